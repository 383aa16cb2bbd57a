// Batched one-sided (Hestenes) Jacobi singular values: one thread block per matrix.
//
// Mirrors the CPU reference in crates/gpu/src/reference.rs step for step (same pair order, same
// rotation, same stopping rule), so the two differ only by floating-point summation order.
//
// Layout: `a` is a contiguous row-major (batch, m, n) array. Each block copies its matrix into
// `work` as `cols = min(m, n)` contiguous columns of length `len = max(m, n)` (columns of A when
// m >= n, rows of A otherwise: A and A^T have the same singular values), then orthogonalises the
// columns pairwise. Pairs are scheduled in round-robin tournament rounds, so every column is
// touched by exactly one pair per round and the pairs of a round are independent: one warp per
// pair, warps of the block take the round's pairs in turn, a block barrier between rounds.
// At convergence the singular values are the column norms, written sorted descending to
// `out` (batch, cols). `sweeps[b]` receives the number of sweeps used, or -1 if matrix b did not
// converge within `max_sweeps` (the host turns that into an error).
//
// Works for any m, n >= 1 (no shared-memory limit on the matrix: it lives in global `work`).

template <typename T> struct Num;

template <> struct Num<float> {
    static __device__ __forceinline__ float eps() { return 1.1920929e-7f; }
    static __device__ __forceinline__ float sqrt_(float x) { return sqrtf(x); }
    static __device__ __forceinline__ float abs_(float x) { return fabsf(x); }
};

template <> struct Num<double> {
    static __device__ __forceinline__ double eps() { return 2.220446049250313e-16; }
    static __device__ __forceinline__ double sqrt_(double x) { return sqrt(x); }
    static __device__ __forceinline__ double abs_(double x) { return fabs(x); }
};

// Butterfly sum: every lane ends with the same value (IEEE addition is commutative), which keeps
// the rotate/skip decision warp-uniform.
template <typename T> __device__ __forceinline__ T warp_sum(T v) {
    for (int offset = 16; offset > 0; offset >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, offset);
    }
    return v;
}

// Circle-method tournament on `players` (even) slots: round `round`, table `slot`.
__device__ __forceinline__ void tournament_pair(int players, int round, int slot, int* p, int* q) {
    const int r = players - 1;
    if (slot == 0) {
        *p = round % r;
        *q = r;
    } else {
        *p = (round + slot) % r;
        *q = (round + r - slot) % r;
    }
}

// Rotates columns cp, cq (length len) so that they become orthogonal. Called by a whole warp.
// Returns whether a rotation was applied (warp-uniform).
template <typename T>
__device__ bool rotate_pair(T* cp, T* cq, int len, T tol, int lane) {
    T alpha = 0, beta = 0, gamma = 0;
    for (int i = lane; i < len; i += 32) {
        const T x = cp[i];
        const T y = cq[i];
        alpha += x * x;
        beta += y * y;
        gamma += x * y;
    }
    alpha = warp_sum(alpha);
    beta = warp_sum(beta);
    gamma = warp_sum(gamma);
    if (gamma == T(0) || Num<T>::abs_(gamma) <= tol * Num<T>::sqrt_(alpha) * Num<T>::sqrt_(beta)) {
        return false;
    }
    const T zeta = (beta - alpha) / (T(2) * gamma);
    const T az = Num<T>::abs_(zeta);
    // For huge |zeta|, sqrt(1 + zeta^2) would overflow; t ~ 1 / (2 zeta) there.
    T t;
    if (az > T(1) / Num<T>::eps()) {
        t = T(0.5) / zeta;
    } else {
        const T sign = zeta >= T(0) ? T(1) : T(-1);
        t = sign / (az + Num<T>::sqrt_(T(1) + zeta * zeta));
    }
    const T c = T(1) / Num<T>::sqrt_(T(1) + t * t);
    const T s = c * t;
    for (int i = lane; i < len; i += 32) {
        const T x = cp[i];
        const T y = cq[i];
        cp[i] = c * x - s * y;
        cq[i] = s * x + c * y;
    }
    return true;
}

template <typename T>
__device__ void jacobi_singular_values(const T* __restrict__ a, T* __restrict__ work,
                                       T* __restrict__ out, int* __restrict__ sweeps, int m, int n,
                                       int max_sweeps) {
    const int b = blockIdx.x;
    const int cols = m < n ? m : n;
    const int len = m < n ? n : m;
    const bool tall = m >= n;
    const T* src = a + (size_t)b * m * n;
    T* w = work + (size_t)b * cols * len;
    const size_t total = (size_t)cols * len;
    for (size_t idx = threadIdx.x; idx < total; idx += blockDim.x) {
        const size_t j = idx / len;
        const size_t i = idx % len;
        w[idx] = tall ? src[i * n + j] : src[j * n + i];
    }
    __syncthreads();

    __shared__ int rotated;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int nwarps = blockDim.x >> 5;
    const int players = cols + (cols & 1);
    const T tol = Num<T>::eps() * T(len);
    int used = -1;
    for (int sweep = 0; sweep < max_sweeps; ++sweep) {
        if (threadIdx.x == 0) rotated = 0;
        __syncthreads();
        for (int round = 0; round < players - 1; ++round) {
            for (int slot = warp; slot < players / 2; slot += nwarps) {
                int p, q;
                tournament_pair(players, round, slot, &p, &q);
                if (p >= cols || q >= cols) continue;  // the bye of an odd column count
                if (rotate_pair(w + (size_t)p * len, w + (size_t)q * len, len, tol, lane) &&
                    lane == 0) {
                    rotated = 1;
                }
            }
            __syncthreads();
        }
        const bool done = rotated == 0;
        __syncthreads();  // everyone has read `rotated` before thread 0 resets it
        if (done) {
            used = sweep + 1;
            break;
        }
    }

    // Column norms, stored in the first entry of each (now finished) column.
    for (int j = warp; j < cols; j += nwarps) {
        T* cj = w + (size_t)j * len;
        T ss = 0;
        for (int i = lane; i < len; i += 32) ss += cj[i] * cj[i];
        ss = warp_sum(ss);
        if (lane == 0) cj[0] = Num<T>::sqrt_(ss);
    }
    __syncthreads();
    // Rank sort, descending; ties broken by column index so ranks are a permutation.
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        const T v = w[(size_t)j * len];
        int rank = 0;
        for (int k = 0; k < cols; ++k) {
            const T u = w[(size_t)k * len];
            rank += (u > v || (u == v && k < j)) ? 1 : 0;
        }
        out[(size_t)b * cols + rank] = v;
    }
    if (threadIdx.x == 0) sweeps[b] = used;
}

extern "C" __global__ void jacobi_sv_f32(const float* a, float* work, float* out, int* sweeps,
                                         int m, int n, int max_sweeps) {
    jacobi_singular_values<float>(a, work, out, sweeps, m, n, max_sweeps);
}

extern "C" __global__ void jacobi_sv_f64(const double* a, double* work, double* out, int* sweeps,
                                         int m, int n, int max_sweeps) {
    jacobi_singular_values<double>(a, work, out, sweeps, m, n, max_sweeps);
}

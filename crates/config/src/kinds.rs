//! Closed vocabularies of the config, as serde enums: an unknown word is a parse error that lists
//! the accepted ones.

use serde::{Deserialize, Serialize};

/// SPEC §3 tasks, plus data read from files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// T1: mixture of regimes, a teacher per cluster.
    T1Regimes,
    /// T2: one global smooth teacher on Gaussian inputs.
    T2Teacher,
    /// T3: a low-dimensional manifold with a teacher on top.
    T3Manifold,
    /// T4: T1's clusters as class labels.
    T4Clusters,
    /// MNIST-style IDX files.
    Idx,
    /// A CSV table.
    Csv,
}

impl TaskKind {
    /// The word a config file uses (`t1_regimes`, …, `csv`), for messages.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::T1Regimes => "t1_regimes",
            TaskKind::T2Teacher => "t2_teacher",
            TaskKind::T3Manifold => "t3_manifold",
            TaskKind::T4Clusters => "t4_clusters",
            TaskKind::Idx => "idx",
            TaskKind::Csv => "csv",
        }
    }
}

impl std::fmt::Display for TaskKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Regression (MSE) or classification (cross-entropy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// Real-valued targets, MSE loss.
    Regression,
    /// Class labels, cross-entropy loss.
    Classification,
}

/// SPEC §2.4 matched capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Capacity {
    /// m = H / E: expert parameters equal dense FFN parameters.
    #[default]
    Parameter,
    /// m = H / k: Top-k active compute equals dense compute.
    Compute,
}

/// Hidden activation φ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// GELU, tanh approximation (smooth Jacobians).
    #[default]
    Gelu,
    /// max(0, a); φ'(0) = 0.
    Relu,
}

/// Which Jacobian path the probe uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum JacobianPath {
    /// SPEC §4 closed form.
    #[default]
    ClosedForm,
    /// Per-output vector-Jacobian products through candle's autograd.
    Autograd,
}

/// Where the spectral stage takes the singular values of the Jacobians (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SpectraOn {
    /// `device` when the run is on a GPU, `host` otherwise.
    #[default]
    Auto,
    /// Copy each chunk's Jacobians to the host; nalgebra SVDs there (fastest on a CPU).
    Host,
    /// Batched solvers on the run's device (moescope-gpu); only singular values, expert-average
    /// sums and pairwise inner products come back. On a CPU this is the Jacobi reference.
    Device,
}

/// Floating-point precision of the probe and spectral stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Double precision (default; SPEC §5.1).
    #[default]
    F64,
    /// Single precision (faster on GPUs; never half precision).
    F32,
}

/// SPEC §5.4 dense-partition group order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GroupOrder {
    /// Consecutive hidden units.
    #[default]
    Index,
    /// A seeded random permutation of the hidden units.
    Random,
}

/// SPEC §4.5 weights of the expert-average Jacobian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AvgWeight {
    /// w = g_e(h).
    #[default]
    Gate,
    /// w = 1[e ∈ S(h)].
    UniformRouted,
}

/// SPEC §6.1 weighted-PCA weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WeightMode {
    /// w = g_e(h).
    #[default]
    Gate,
    /// w = 1[e = argmax g(h)].
    HardArgmax,
    /// w = g_e(h)^γ.
    GatePower,
}

/// How an architecture routes (SPEC §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Routing {
    /// The dense FFN baseline.
    Dense,
    /// Top-k routing over the E experts.
    TopK {
        /// Experts selected per input.
        k: usize,
    },
    /// Softmax gating over all experts.
    Soft,
}

/// Where the run computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DeviceSpec {
    /// The host CPU.
    Cpu,
    /// An NVIDIA GPU.
    Cuda {
        /// CUDA ordinal.
        ordinal: usize,
    },
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda { ordinal } => write!(f, "cuda:{ordinal}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TaskKind;

    /// Messages use `name`; it must be the word serde reads.
    #[test]
    fn task_kind_names_are_the_yaml_words() {
        use TaskKind::*;
        for kind in [T1Regimes, T2Teacher, T3Manifold, T4Clusters, Idx, Csv] {
            assert_eq!(serde_yaml::to_string(&kind).unwrap().trim(), kind.name());
            assert_eq!(serde_yaml::from_str::<TaskKind>(kind.name()).unwrap(), kind);
        }
        assert_eq!(Csv.to_string(), "csv");
    }
}

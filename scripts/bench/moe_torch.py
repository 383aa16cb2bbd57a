#!/usr/bin/env python3
"""PyTorch baseline for moescope's default experiment (configs/paper.yaml), written the way a
PyTorch user would: nn.Module + Adam for training, torch.func (vmap + jacrev) for the per-sample
Jacobians, torch.linalg (svdvals, eigh) for the spectra and the weighted PCA.

Same work as a moescope run: every architecture (dense, Top-1, Top-2, soft; parameter-matched
m = H/E) on every seed; T1 "mixture of regimes" data of the same distribution and sizes; Adam,
batch 256, eval every 100 steps, final train/val loss; then, in f64 on the probe set: expert-local
Jacobians J_e, the full layer Jacobian J_F, the end-to-end Jacobian, the dense-partition group
Jacobians (dense), their singular-value spectra and SPEC §5 metrics aggregated with routing
weights, pointwise and expert-average alignment, the weighted PCA per expert (SPEC §6; a diagonal
GMM for the dense control), principal-subspace overlaps and routing statistics.

Sub-commands:
  run      time the whole experiment (prints/writes a JSON with per-stage seconds)
  make-csv write a T1 data set as CSV (identical inputs for moescope's `task.kind: csv`)
  agree    load moescope's checkpoints from a CSV-task run folder and compare metrics on
           identical weights and identical probe inputs

Threads: `--jobs J --threads T` runs J worker processes with torch.set_num_threads(T) each,
mirroring moescope's J jobs with one rayon thread each (its CLI default: J = cores, T = 1).
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import jacrev, vmap

EPS = float(np.finfo(np.float64).eps)
DEAD = 1e-12


# ----------------------------------------------------------------------------------------------
# Data: T1 mixture of regimes (SPEC §3)
# ----------------------------------------------------------------------------------------------
def t1_data(n, d_in, d_out, clusters, sep, noise, teacher_hidden, seed):
    """x ~ Σ_c N(μ_c, I)/C, μ_c ~ N(0, I)·sep; y = T_{argmax posterior}(x) + ε."""
    g = torch.Generator().manual_seed(10_000 + seed)
    mu = torch.randn(clusters, d_in, generator=g, dtype=torch.float64) * sep
    b1 = math.sqrt(6.0 / (d_in + teacher_hidden))
    b2 = math.sqrt(6.0 / (teacher_hidden + d_out))
    w1 = (torch.rand(clusters, teacher_hidden, d_in, generator=g, dtype=torch.float64) * 2 - 1) * b1
    w2 = (torch.rand(clusters, d_out, teacher_hidden, generator=g, dtype=torch.float64) * 2 - 1) * b2
    c = torch.randint(clusters, (n,), generator=g)
    x = mu[c] + torch.randn(n, d_in, generator=g, dtype=torch.float64)
    # Equal weights and unit variances: the posterior argmax is the nearest mean.
    cstar = torch.cdist(x, mu).argmin(1)
    hid = torch.tanh(torch.einsum("chd,nd->nch", w1, x))  # (n, C, hidden)
    y_all = torch.einsum("coh,nch->nco", w2, hid)  # (n, C, d_out)
    y = y_all[torch.arange(n), cstar] + noise * torch.randn(n, d_out, generator=g, dtype=torch.float64)
    return x.float(), y.float()


# ----------------------------------------------------------------------------------------------
# Model (SPEC §2)
# ----------------------------------------------------------------------------------------------
def gelu(a):
    return F.gelu(a, approximate="tanh")


class MoE(nn.Module):
    """h = φ(W0 x + b0); u = Σ_e g_e(h) E_e(h); y = W_out (h + u) + b_out. Dense: E = 1, g = 1."""

    def __init__(self, routing, k, d_in, d, d_out, experts, hidden, router_std=0.01):
        super().__init__()
        self.routing, self.k, self.E, self.m, self.d = routing, k, experts, hidden, d
        self.encoder = nn.Linear(d_in, d)
        self.w1 = nn.Parameter(torch.empty(experts, hidden, d))
        self.b1 = nn.Parameter(torch.zeros(experts, hidden))
        self.w2 = nn.Parameter(torch.empty(experts, d, hidden))
        self.b2 = nn.Parameter(torch.zeros(experts, d))
        self.router = nn.Linear(d, experts) if routing != "dense" else None
        self.readout = nn.Linear(d, d_out)
        with torch.no_grad():
            for w, (fi, fo) in [(self.encoder.weight, (d_in, d)), (self.readout.weight, (d, d_out))]:
                w.uniform_(-math.sqrt(6 / (fi + fo)), math.sqrt(6 / (fi + fo)))
            self.w1.uniform_(-math.sqrt(6 / (d + hidden)), math.sqrt(6 / (d + hidden)))
            self.w2.uniform_(-math.sqrt(6 / (d + hidden)), math.sqrt(6 / (d + hidden)))
            self.encoder.bias.zero_()
            self.readout.bias.zero_()
            if self.router is not None:
                self.router.weight.normal_(0, router_std)
                self.router.bias.zero_()

    def encode(self, x):
        return gelu(self.encoder(x))

    def route(self, h):
        """(logits, probs, gates, selected), each (n, E); dense: gates = selected = 1."""
        if self.router is None:
            one = torch.ones(h.shape[0], 1, dtype=h.dtype, device=h.device)
            return None, None, one, one
        logits = self.router(h)
        probs = torch.softmax(logits, -1)
        if self.routing == "soft":
            return logits, probs, probs, torch.ones_like(probs)
        thr = logits.detach().topk(self.k, -1).values[..., -1:]
        sel = (logits.detach() >= thr).to(probs.dtype)  # the k largest (a mask vmap can batch)
        masked = probs * sel
        return logits, probs, masked / masked.sum(-1, keepdim=True), sel

    def hidden_act(self, h):
        return gelu(h @ self.w1.reshape(-1, self.d).T + self.b1.reshape(-1))  # (n, E·m)

    def ffn(self, h):
        _, probs, gates, sel = self.route(h)
        act = self.hidden_act(h)
        n = h.shape[0]
        scaled = (act.view(n, self.E, self.m) * gates.unsqueeze(2)).view(n, -1)
        u = scaled @ self.w2.transpose(1, 2).reshape(-1, self.d) + gates @ self.b2
        return u, probs, sel

    def forward(self, x):
        h = self.encode(x)
        u, probs, sel = self.ffn(h)
        return self.readout(h + u), probs, sel

    # --- single-point functions for torch.func (h: (d,), x: (d_in,)) ---
    def ffn_at(self, h):
        return self.ffn(h.unsqueeze(0))[0][0]

    def model_at(self, x):
        return self.forward(x.unsqueeze(0))[0][0]

    def stacked_experts(self, groups=None):
        """(W1, b1, W2, b2) stacked over experts — or, for dense, over the G index-order groups
        of hidden units of SPEC §5.4 (b2 = 0 for groups, so J_D = Σ_g J_{D,g})."""
        if groups is None:
            return self.w1, self.b1, self.w2, self.b2
        w1 = self.w1[0].view(groups, -1, self.d)  # (G, H/G, d)
        w2 = self.w2[0].view(self.d, groups, -1).permute(1, 0, 2)  # (G, d, H/G)
        return w1, self.b1[0].view(groups, -1), w2, torch.zeros(groups, self.d, dtype=w1.dtype)


def expert_fn(w1, b1, w2, b2, h):
    """One expert on one point: W2 φ(W1 h + b1) + b2."""
    return w2 @ gelu(w1 @ h + b1) + b2


# vmap over the experts' stacked weights, then over points: (n, E, d, d).
_expert_jac = vmap(vmap(jacrev(expert_fn, argnums=4), in_dims=(0, 0, 0, 0, None)), in_dims=(None, None, None, None, 0))


ARCHS = {"dense": ("dense", 0), "top1": ("topk", 1), "top2": ("topk", 2), "soft": ("soft", 0)}


def build(arch, a, seed):
    routing, k = ARCHS[arch]
    experts, hidden = (1, a.dense_hidden) if routing == "dense" else (a.experts, a.dense_hidden // a.experts)
    torch.manual_seed(seed)
    return MoE(routing, k, a.d_in, a.d, a.d_out, experts, hidden)


# ----------------------------------------------------------------------------------------------
# Training (SPEC §2.6, §3)
# ----------------------------------------------------------------------------------------------
def switch_loss(probs, sel, k):
    e = probs.shape[1]
    return e * ((sel.mean(0) / k) * probs.mean(0)).sum()


def train(model, data, a, seed):
    xt, yt, xv, yv = data
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    g = torch.Generator().manual_seed(seed)
    n, perm, pos = xt.shape[0], None, xt.shape[0]
    k = model.k
    for step in range(1, a.steps + 1):
        if pos + a.batch > n:
            perm, pos = torch.randperm(n, generator=g), 0
        idx = perm[pos : pos + a.batch]
        pos += a.batch
        pred, probs, sel = model(xt[idx])
        loss = F.mse_loss(pred, yt[idx])
        total = loss + a.load_balance * switch_loss(probs, sel, k) if model.routing == "topk" else loss
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        if step % a.eval_every == 0 or step == a.steps:
            with torch.no_grad():
                F.mse_loss(model(xv)[0], yv).item()
    with torch.no_grad():
        return F.mse_loss(model(xt)[0], yt).item(), F.mse_loss(model(xv)[0], yv).item()


# ----------------------------------------------------------------------------------------------
# Spectra (SPEC §5) — vectorised over a batch of spectra
# ----------------------------------------------------------------------------------------------
METRICS = ["sigma1", "frobenius", "rho_q", "rho_quarter", "energy_q", "alpha", "beta", "erank", "srank", "pr",
           "numerical_rank"]


def entropy_rank(p_unnorm):
    p = p_unnorm / p_unnorm.sum(-1, keepdim=True)
    return torch.exp(-torch.where(p > 0, p * torch.log(p.clamp_min(1e-300)), torch.zeros_like(p)).sum(-1))


def ols_slope(x, y, mask):
    cnt = mask.sum(-1)
    mx = (x * mask).sum(-1) / cnt
    my = (y * mask).sum(-1) / cnt
    dx = (x - mx.unsqueeze(-1)) * mask
    return (dx * (y - my.unsqueeze(-1))).sum(-1) / (dx * dx).sum(-1)


def spectrum_metrics(sv, rows, cols, q):
    """sv (N, n) descending → dict of (N,) metrics; ratio metrics NaN on dead spectra."""
    n = sv.shape[-1]
    s1 = sv[:, 0]
    frob = sv.pow(2).sum(-1).sqrt()
    dead = s1 <= DEAD
    tol = max(rows, cols) * EPS * s1
    s = torch.where(sv > tol.unsqueeze(1), sv / s1.clamp_min(DEAD).unsqueeze(1), torch.zeros_like(sv))
    live = s > 0
    rank = live.sum(-1)
    e2, e4 = s.pow(2).sum(-1), s.pow(4).sum(-1)
    i = torch.arange(1, n + 1, dtype=sv.dtype)
    y = torch.log(torch.where(live, s, torch.ones_like(s)))
    fit = live.to(sv.dtype)
    alpha = -ols_slope(torch.log(i).expand_as(s), y, fit)
    beta = -ols_slope(i.expand_as(s), y, fit)
    alpha = torch.where(rank >= 2, alpha, torch.full_like(alpha, float("nan")))
    beta = torch.where(rank >= 2, beta, torch.full_like(beta, float("nan")))
    m = {
        "sigma1": s1,
        "frobenius": frob,
        "rho_q": s[:, q - 1] if q <= n else torch.zeros_like(s1),
        "rho_quarter": s[:, (n + 3) // 4 - 1],
        "energy_q": s[:, :q].pow(2).sum(-1) / e2,
        "alpha": alpha,
        "beta": beta,
        "erank": entropy_rank(s),
        "srank": e2,
        "pr": e2 * e2 / e4,
        "numerical_rank": rank.to(sv.dtype),
    }
    nan = torch.full_like(s1, float("nan"))
    for key in METRICS[2:]:
        m[key] = torch.where(dead, nan, m[key])
    return m


class Acc:
    """Weighted means of every metric over points (NaN left out), like moescope's accumulator."""

    def __init__(self):
        self.sum = {k: 0.0 for k in METRICS}
        self.w = {k: 0.0 for k in METRICS}
        self.points = 0
        self.sigma1 = []

    def add(self, m, w):
        self.points += len(w)
        for k in m:
            ok = torch.isfinite(m[k])
            self.sum[k] += float((m[k][ok] * w[ok]).sum())
            self.w[k] += float(w[ok].sum())
        self.sigma1.append(m["sigma1"])

    def emit(self, out, family, expert=None):
        if self.points == 0:
            return
        for k in METRICS:
            if self.w[k] > 0 and self.sum[k] == self.sum[k]:
                out[(family + "." + k, expert)] = self.sum[k] / self.w[k]
        out[(family + ".points", expert)] = float(self.points)
        out[(family + ".sigma1_median", expert)] = float(torch.cat(self.sigma1).median()) if self.points else 0.0


# ----------------------------------------------------------------------------------------------
# Probe (SPEC §4–§7)
# ----------------------------------------------------------------------------------------------
def pca_metrics(cov):
    """SPEC §6.2 quantities of a batch of covariances (B, d, d) → dict of (B,), plus eigvecs."""
    lam, vec = torch.linalg.eigh(cov)
    lam, vec = lam.flip(-1).clamp_min(0), vec.flip(-1)
    d = cov.shape[-1]
    l1 = lam[:, 0]
    rel = torch.where(lam > (d * EPS * l1).unsqueeze(1), lam / l1.clamp_min(DEAD).unsqueeze(1), torch.zeros_like(lam))
    tot = rel.sum(-1, keepdim=True)
    cev = (rel / tot).cumsum(-1)
    return {
        "erank": entropy_rank(rel),
        "erank_sigma": entropy_rank(rel.sqrt()),
        "pr": rel.sum(-1) ** 2 / rel.pow(2).sum(-1),
        "k90": (cev < 0.9 - 1e-12).sum(-1).to(cov.dtype) + 1,
        "k95": (cev < 0.95 - 1e-12).sum(-1).to(cov.dtype) + 1,
        "total_variance": torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1),
    }, vec


def weighted_cov(h, w):
    """h (n, d), w (n, K) → covariances (K, d, d), masses (K,), Kish n_eff (K,)."""
    mass = w.sum(0)
    mu = (w.T @ h) / mass.unsqueeze(1)
    c = h.unsqueeze(0) - mu.unsqueeze(1)  # (K, n, d)
    cov = torch.einsum("kn,kni,knj->kij", w.T, c, c) / mass.view(-1, 1, 1)
    n_eff = mass**2 / w.pow(2).sum(0)
    return 0.5 * (cov + cov.transpose(1, 2)), mass, n_eff


def subspace_overlap(u, r):
    """Mean overlap ‖U_aᵀU_b‖²/r, Grassmann and projection distances over pairs of (K, d, d) bases."""
    ur = u[:, :, :r]
    out = {"overlap": [], "grassmann": [], "projection": []}
    for a in range(len(ur)):
        for b in range(a + 1, len(ur)):
            cos = torch.linalg.svdvals(ur[a].T @ ur[b]).clamp(-1, 1)
            f2 = float(cos.pow(2).sum())
            out["overlap"].append(f2 / r)
            out["grassmann"].append(float(torch.acos(cos).pow(2).sum().sqrt()))
            out["projection"].append(math.sqrt(max(r - f2, 0.0)))
    return {k: float(np.mean(v)) for k, v in out.items() if v}


def diag_gmm(h, k, iters=200, tol=1e-8, reg=1e-6, seed=0):
    """Responsibilities of a diagonal-covariance GMM (k-means++-style init, then EM)."""
    g = torch.Generator().manual_seed(seed)
    mu = h[torch.randperm(h.shape[0], generator=g)[:k]].clone()
    for _ in range(20):  # Lloyd
        lab = torch.cdist(h, mu).argmin(1)
        for c in range(k):
            if (lab == c).any():
                mu[c] = h[lab == c].mean(0)
    var = h.var(0).expand(k, -1).clone() + reg
    pi = torch.full((k,), 1.0 / k, dtype=h.dtype)
    prev = -math.inf
    for _ in range(iters):
        logp = -0.5 * (((h.unsqueeze(1) - mu) ** 2) / var + torch.log(2 * math.pi * var)).sum(-1) + torch.log(pi)
        ll = torch.logsumexp(logp, 1)
        r = torch.exp(logp - ll.unsqueeze(1))
        nk = r.sum(0) + 1e-300
        mu = (r.T @ h) / nk.unsqueeze(1)
        var = (r.T @ h.pow(2)) / nk.unsqueeze(1) - mu.pow(2) + reg
        pi = nk / nk.sum()
        cur = float(ll.mean())
        if abs(cur - prev) < tol:
            break
        prev = cur
    return r


def representation(h, w, out, family, sub_family, r):
    d = h.shape[1]
    cov, mass, n_eff = weighted_cov(h, w)
    m, vec = pca_metrics(cov)
    ok = (n_eff >= max(5 * d, 50)) & (mass > 0)
    for e in range(w.shape[1]):
        out[(family + ".n_eff", e)] = float(n_eff[e])
        if ok[e]:
            for key, v in m.items():
                out[(family + "." + key, e)] = float(v[e])
    out[(family + ".supported", None)] = float(ok.sum())
    out[(family + ".under_supported", None)] = float((~ok).sum())
    if ok.any():
        wm = mass[ok] / mass[ok].sum()
        for key, v in m.items():
            out[(family + "." + key, None)] = float((v[ok] * wm).sum())
        for key, v in subspace_overlap(vec[ok], r).items():
            out[(sub_family + "." + key, None)] = v


def frob_cos(a, b):
    """Frobenius cosines of matched (…, d, d) batches."""
    num = (a * b).sum((-1, -2))
    return num / (a.pow(2).sum((-1, -2)).sqrt() * b.pow(2).sum((-1, -2)).sqrt())


def alignment(jbar, mass, out, family, r):
    live = [e for e in range(len(jbar)) if mass[e] > 0]
    if len(live) < 2:
        return
    u, s, vh = torch.linalg.svd(jbar[live])
    a1, res, ins, outs = [], [], [], []
    for i, a in enumerate(live):
        for j in range(i + 1, len(live)):
            b = live[j]
            a1.append(abs(float(frob_cos(jbar[a], jbar[b]))))
            c = float((jbar[a] * jbar[b]).sum() / jbar[b].pow(2).sum())
            res.append(float((jbar[a] - c * jbar[b]).norm() / jbar[a].norm()))
            outs.append(float(torch.linalg.svdvals(u[i, :, :r].T @ u[j, :, :r]).pow(2).sum()) / r)
            ins.append(float(torch.linalg.svdvals(vh[i, :r] @ vh[j, :r].T).pow(2).sum()) / r)
    out[(family + ".a1_mean_abs", None)] = float(np.mean(a1))
    out[(family + ".a3_out_overlap", None)] = float(np.mean(outs))
    out[(family + ".a3_in_overlap", None)] = float(np.mean(ins))
    out[(family + ".a4_residual", None)] = float(np.mean(res))


def jacobians(model, x, groups):
    """Per-sample Jacobians with torch.func: J_e (n, E, d, d), J_F (n, d, d), model (n, d_out, d_in)."""
    h = model.encode(x).detach()
    je = _expert_jac(*model.stacked_experts(), h)
    jf = vmap(jacrev(model.ffn_at))(h)
    jm = vmap(jacrev(model.model_at))(x)
    jg = _expert_jac(*model.stacked_experts(groups), h) if model.routing == "dense" else None
    _, _, gates, sel = model.route(h)
    return h, je, jf, jm, jg, gates, sel


def probe(model, x_probe, a):
    """Jacobians (timed as `probe`) and spectra/PCA/alignment (timed as `spectral`) → metrics."""
    model = model.double().requires_grad_(False)  # Jacobians w.r.t. inputs only
    x_probe = x_probe.double()
    E, d, q = model.E, model.d, a.decay_q
    dense = model.routing == "dense"
    groups = a.experts
    accs = {"expert": [Acc() for _ in range(E)], "pooled": Acc(), "scaled": Acc(), "full": Acc(), "model": Acc(),
            "group": [Acc() for _ in range(groups)], "group_pooled": Acc()}
    jbar, mass = torch.zeros(E, d, d, dtype=torch.float64), torch.zeros(E, dtype=torch.float64)
    a2 = [0.0, 0.0]
    hs, gs, per_point, full_sv = [], [], [], []
    t_probe = t_spec = 0.0
    for start in range(0, x_probe.shape[0], a.chunk):
        t = time.perf_counter()
        h, je, jf, jm, jg, gates, sel = jacobians(model, x_probe[start : start + a.chunk], groups)
        h, je, jf, jm, gates, sel = (v.detach() for v in (h, je, jf, jm, gates, sel))
        t_probe += time.perf_counter() - t
        t = time.perf_counter()
        with torch.no_grad():
            n = h.shape[0]
            routed = (gates > 0) & (sel > 0)  # (n, E)
            sv_all = torch.zeros(n, E, d, dtype=torch.float64)
            sv = torch.linalg.svdvals(je[routed])  # only the routed (point, expert) pairs
            sv_all[routed] = sv
            m = spectrum_metrics(sv, d, d, q)
            w = gates[routed]
            eidx = routed.nonzero()[:, 1]
            for e in range(E):
                pick = eidx == e
                accs["expert"][e].add({k: v[pick] for k, v in m.items()}, w[pick])
            accs["pooled"].add(m, w)
            accs["scaled"].add({"sigma1": m["sigma1"] * w, "frobenius": m["frobenius"] * w}, w)
            jbar += torch.einsum("ne,neij->eij", gates * routed, je)
            mass += (gates * routed).sum(0)
            if E > 1:  # pointwise alignment A2 over co-active pairs
                flat = F.normalize(je.reshape(n, E, -1), dim=-1)
                cos = (flat @ flat.transpose(1, 2)).abs()
                pw = (gates * routed).unsqueeze(2) * (gates * routed).unsqueeze(1)
                iu = torch.triu_indices(E, E, 1)
                a2[0] += float((cos * pw)[:, iu[0], iu[1]].sum())
                a2[1] += float(pw[:, iu[0], iu[1]].sum())
            svf = torch.linalg.svdvals(jf)
            accs["full"].add(spectrum_metrics(svf, d, d, q), torch.ones(n, dtype=torch.float64))
            full_sv.append(svf)
            svm = torch.linalg.svdvals(jm)
            accs["model"].add(spectrum_metrics(svm, jm.shape[1], jm.shape[2], q), torch.ones(n, dtype=torch.float64))
            if dense:
                svg = torch.linalg.svdvals(jg.detach().reshape(-1, d, d))
                mg = spectrum_metrics(svg, d, d, q)
                gi = torch.arange(groups).repeat(n)
                for gidx in range(groups):
                    accs["group"][gidx].add({k: v[gi == gidx] for k, v in mg.items()},
                                            torch.ones(n, dtype=torch.float64))
                accs["group_pooled"].add(mg, torch.ones(n * groups, dtype=torch.float64))
            hs.append(h)
            gs.append(gates)
            per_point.append(sv_all)
        t_spec += time.perf_counter() - t
    t = time.perf_counter()
    out = {}
    with torch.no_grad():
        for e in range(E):
            if not dense:
                accs["expert"][e].emit(out, "jac_expert", e)
        accs["pooled"].emit(out, "jac_expert")
        accs["scaled"].emit(out, "jac_scaled")
        accs["full"].emit(out, "jac_full")
        accs["model"].emit(out, "jac_model")
        if dense:
            for gidx in range(groups):
                accs["group"][gidx].emit(out, "jac_group", gidx)
            accs["group_pooled"].emit(out, "jac_group")
        else:
            out[("align.a2_mean_abs", None)] = a2[0] / a2[1] if a2[1] > 0 else float("nan")
            alignment(jbar / mass.clamp_min(1e-300).view(-1, 1, 1), mass, out, "align", a.subspace_rank)
        h = torch.cat(hs)
        gates = torch.cat(gs)
        glob, _ = pca_metrics(weighted_cov(h, torch.ones(h.shape[0], 1, dtype=torch.float64))[0])
        for key, v in glob.items():
            out[("rep_global." + key, None)] = float(v[0])
        if dense:
            resp = diag_gmm(h, groups)
            representation(h, resp, out, "rep_cluster", "subspace_cluster", a.subspace_rank)
        else:
            representation(h, gates, out, "rep", "subspace", a.subspace_rank)
            load = gates.mean(0)
            ent = -(torch.where(gates > 0, gates * torch.log(gates.clamp_min(1e-300)), torch.zeros_like(gates))).sum(1)
            out[("routing.entropy", None)] = float(ent.mean())
            out[("routing.load_entropy", None)] = float(-(load * torch.log(load.clamp_min(1e-300))).sum())
    t_spec += time.perf_counter() - t
    arrays = {"jac_expert_sv": torch.cat(per_point).numpy(), "jac_full_sv": torch.cat(full_sv).numpy(),
              "gates": gates.numpy()}
    return out, arrays, t_probe, t_spec


# ----------------------------------------------------------------------------------------------
# run
# ----------------------------------------------------------------------------------------------
def job(args):
    arch, seed, a = args
    torch.set_num_threads(a.threads)
    n_tr, n_va, n_pr = a.n_train, a.n_val, a.n_probe
    t = time.perf_counter()
    x, y = t1_data(n_tr + n_va + n_pr, a.d_in, a.d_out, a.experts, a.separation, a.noise, 64, seed)
    t_data = time.perf_counter() - t
    data = (x[:n_tr], y[:n_tr], x[n_tr : n_tr + n_va], y[n_tr : n_tr + n_va])
    model = build(arch, a, seed)
    t = time.perf_counter()
    train_loss, val_loss = train(model, data, a, seed)
    t_train = time.perf_counter() - t
    metrics, arrays, t_probe, t_spec = probe(model, x[n_tr + n_va :], a)
    if a.out:
        d = os.path.join(a.out, "spectra")
        os.makedirs(d, exist_ok=True)
        for name, arr in arrays.items():
            np.save(os.path.join(d, f"{arch}_s{seed}_{name}.npy"), arr)
        from safetensors.torch import save_file

        os.makedirs(os.path.join(a.out, "checkpoints"), exist_ok=True)
        save_file({k: v.float().contiguous() for k, v in model.state_dict().items()},
                  os.path.join(a.out, "checkpoints", f"{arch}_s{seed}.safetensors"))
    metrics[("fit.train_loss", None)] = train_loss
    metrics[("fit.val_loss", None)] = val_loss
    rows = [{"model": arch, "seed": seed, "expert": e, "metric": k, "value": v} for (k, e), v in metrics.items()]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"arch": arch, "seed": seed, "rows": rows, "pid": os.getpid(), "maxrss_kb": rss,
            "stages": {"data": t_data, "train": t_train, "probe": t_probe, "spectral": t_spec}}


def cmd_run(a):
    t0 = time.perf_counter()
    jobs = [(arch, seed, a) for seed in range(a.seeds) for arch in a.archs.split(",")]
    if a.jobs > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(a.jobs) as pool:
            results = pool.map(job, jobs, chunksize=1)
    else:
        results = [job(j) for j in jobs]
    rows = [r for res in results for r in res["rows"]]
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "metrics.jsonl"), "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    stages = {}
    for res in results:
        for k, v in res["stages"].items():
            stages[k] = stages.get(k, 0.0) + v
    per_pid = {}
    for res in results:
        per_pid[res["pid"]] = max(per_pid.get(res["pid"], 0), res["maxrss_kb"])
    main_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summary = {"stages": stages, "wall_seconds": time.perf_counter() - t0,
               "peak_rss_kb_sum": main_rss + sum(per_pid.values()),
               "losses": {f"{r['model']}_s{r['seed']}": r["value"] for r in rows if r["metric"] == "fit.val_loss"},
               "torch": torch.__version__, "jobs": a.jobs, "threads": a.threads}
    print(json.dumps(summary))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f)


# ----------------------------------------------------------------------------------------------
# make-csv / agree
# ----------------------------------------------------------------------------------------------
def cmd_make_csv(a):
    x, y = t1_data(a.n, a.d_in, a.d_out, a.experts, a.separation, a.noise, 64, a.seed)
    arr = np.concatenate([x.numpy(), y.numpy()], 1).astype(np.float32)
    # %.9g round-trips every f32, so moescope's f32 inputs equal this array bit for bit.
    np.savetxt(a.csv, arr, fmt="%.9g", delimiter=",",
               header=",".join([f"x{i}" for i in range(a.d_in)] + ["y"]), comments="")


def load_checkpoint(path):
    """moescope safetensors → MoE (f64), with the ModelSpec from the header metadata."""
    from safetensors import safe_open

    with safe_open(path, "pt") as f:
        spec = json.loads(f.metadata()["moescope.model_spec"])
        t = {k: f.get_tensor(k) for k in f.keys()}
    r = spec["routing"]  # {"kind": "dense" | "soft" | "top_k", "k": k}
    routing, k = {"dense": ("dense", 0), "soft": ("soft", 0), "top_k": ("topk", r.get("k", 0))}[r["kind"]]
    model = MoE(routing, k, spec["d_in"], spec["d"], spec["d_out"], spec["experts"], spec["hidden"])
    assert spec["encoder"] and spec["residual"] and spec["activation"] == "gelu" and spec["temperature"] == 1.0
    sd = {"encoder.weight": t["encoder.weight"], "encoder.bias": t["encoder.bias"], "w1": t["ffn.w1"],
          "b1": t["ffn.b1"], "w2": t["ffn.w2"], "b2": t["ffn.b2"], "readout.weight": t["readout.weight"],
          "readout.bias": t["readout.bias"]}
    if routing != "dense":
        sd["router.weight"], sd["router.bias"] = t["router.weight"], t["router.bias"]
    model.load_state_dict(sd)
    return model.double(), spec


def cmd_agree(a):
    torch.set_num_threads(a.threads)
    raw = np.loadtxt(a.csv, delimiter=",", skiprows=1, dtype=np.float32)
    x_all = torch.from_numpy(raw[:, :-1]).double()
    mo = {}
    with open(os.path.join(a.run, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            mo[(r["model"], r["seed"], r["metric"], r.get("expert"))] = r["value"]
    keys = ["sigma1", "erank", "srank", "frobenius", "pr", "rho_q", "energy_q", "alpha", "beta"]
    checks = [f"jac_expert.{k}" for k in keys] + [f"jac_full.{k}" for k in keys] + \
        ["jac_model.sigma1", "jac_scaled.sigma1"] + \
        [f"{f}.{k}" for f in ("rep", "rep_global") for k in ("erank", "erank_sigma", "pr", "total_variance")] + \
        ["align.a1_mean_abs", "align.a2_mean_abs", "jac_group.sigma1", "jac_group.erank"]
    worst, failed, lines = 0.0, [], []
    for ck in sorted(os.listdir(os.path.join(a.run, "checkpoints"))):
        name, seed = ck[: -len(".safetensors")].rsplit("_s", 1)
        model, spec = load_checkpoint(os.path.join(a.run, "checkpoints", ck))
        # moescope splits the CSV rows with its own seeded permutation; find its probe rows by
        # matching the per-point singular values of J_F it wrote, then recompute everything here.
        target = torch.from_numpy(np.load(os.path.join(a.run, "spectra", f"{name}_s{seed}_jac_full_sv.npy")))
        model.requires_grad_(False)
        h = model.encode(x_all)
        jf = vmap(jacrev(model.ffn_at))(h).detach()
        sv_all = torch.linalg.svdvals(jf)
        dist, idx = torch.cdist(target, sv_all).min(1)
        assert len(set(idx.tolist())) == len(idx), "probe rows not uniquely identified"
        margin = float(dist.max())
        metrics, arrays, _, _ = probe(model, x_all[idx].float(), a)
        sv_err = float(np.abs(arrays["jac_expert_sv"] - np.load(os.path.join(
            a.run, "spectra", f"{name}_s{seed}_jac_expert_sv.npy"))).max())
        lines.append(f"{name}_s{seed}: probe rows matched (max sv distance {margin:.1e}); "
                     f"per-point J_e singular values max abs diff {sv_err:.1e}")
        for (metric, expert), v in sorted(metrics.items(), key=lambda kv: (kv[0][0], kv[0][1] or -1)):
            if metric not in checks or expert is not None:
                continue
            ref = mo.get((name, int(seed), metric, None))
            if ref is None or not (math.isfinite(ref) and math.isfinite(v)):
                continue
            rel = abs(v - ref) / max(abs(ref), 1e-12)
            worst = max(worst, rel)
            if rel > a.tol:
                failed.append(f"{name}_s{seed} {metric}: torch {v:.10g} moescope {ref:.10g} rel {rel:.2e}")
            lines.append(f"  {metric:28s} torch {v:16.10g}  moescope {ref:16.10g}  rel {rel:.1e}")
    print("\n".join(lines))
    print(f"AGREEMENT: worst relative difference {worst:.2e} (tolerance {a.tol:g}); "
          f"{'all within' if not failed else str(len(failed)) + ' outside'}")
    for f in failed:
        print("  OUTSIDE:", f)
    sys.exit(1 if failed else 0)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    # Defaults = configs/paper.yaml.
    for k, v in dict(d_in=16, d_out=1, d=32, dense_hidden=256, experts=8, seeds=3, steps=2000, batch=256,
                     eval_every=100, n_train=16384, n_val=2048, n_probe=2048, chunk=256, decay_q=4,
                     subspace_rank=4, jobs=os.cpu_count() or 1, threads=1).items():
        common.add_argument("--" + k.replace("_", "-"), type=int, default=v)
    for k, v in dict(lr=1e-3, load_balance=0.01, separation=3.0, noise=0.01).items():
        common.add_argument("--" + k.replace("_", "-"), type=float, default=v)
    common.add_argument("--archs", default="dense,top1,top2,soft")
    r = sub.add_parser("run", parents=[common])
    r.add_argument("--out", default=None, help="write metrics.jsonl, spectra/*.npy, checkpoints/ here")
    r.add_argument("--json", default=None, help="write the timing summary here")
    c = sub.add_parser("make-csv", parents=[common])
    c.add_argument("--csv", required=True)
    c.add_argument("--n", type=int, required=True)
    c.add_argument("--seed", type=int, default=0)
    g = sub.add_parser("agree", parents=[common])
    g.add_argument("--run", required=True, help="moescope run folder of a csv-task run")
    g.add_argument("--csv", required=True)
    g.add_argument("--tol", type=float, default=1e-4)
    a = p.parse_args()
    {"run": cmd_run, "make-csv": cmd_make_csv, "agree": cmd_agree}[a.cmd](a)


if __name__ == "__main__":
    main()

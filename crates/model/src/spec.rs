//! [`ModelSpec`]: the sizes and options of one network, and its parameter counts.

use crate::error::{invalid, Result};
use moescope_config::{Activation, Architecture, ModelShape, Routing};
use serde::{Deserialize, Serialize};

/// Everything needed to build one network (SPEC §2). Stored as JSON in checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Dense, Top-k or soft routing.
    pub routing: Routing,
    /// Input dimension.
    pub d_in: usize,
    /// Routed hidden dimension (FFN input and output).
    pub d: usize,
    /// Readout dimension (1 for scalar regression, C for classification).
    pub d_out: usize,
    /// Number of experts E (1 for dense).
    pub experts: usize,
    /// Hidden width per expert m (H for dense).
    pub hidden: usize,
    /// Hidden activation φ of the encoder and the experts.
    pub activation: Activation,
    /// `false`: no encoder, h = x (then `d` must equal `d_in`).
    pub encoder: bool,
    /// z = h + u when true, z = u otherwise.
    pub residual: bool,
    /// Router temperature τ: s = (W_r h + b_r)/τ.
    pub temperature: f64,
    /// Top-k gates renormalised over the selected experts (else raw full-softmax values).
    pub topk_renorm: bool,
    /// Standard deviation of the router weight initialisation.
    pub router_init_std: f64,
}

/// Parameter counts (SPEC §2.4), reported in the run manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamCounts {
    /// Every parameter: encoder + FFN + router + readout.
    pub total: usize,
    /// Parameters used for one input: encoder + active FFN + router + readout.
    pub active: usize,
    /// Router parameters E·d + E (0 for dense).
    pub router: usize,
    /// FFN (expert) parameters, all experts.
    pub ffn: usize,
    /// FFN parameters active for one input (k experts for Top-k, all for soft/dense).
    pub ffn_active: usize,
}

impl ModelSpec {
    /// Combines the shared model shape with one architecture and the data dimensions. Without an
    /// encoder the routed dimension is the input's (h = x), so `d` is set to `d_in` and `shape.d`
    /// is not used.
    pub fn new(shape: &ModelShape, arch: &Architecture, d_in: usize, d_out: usize) -> Result<Self> {
        let spec = ModelSpec {
            routing: arch.routing,
            d_in,
            d: if shape.encoder { shape.d } else { d_in },
            d_out,
            experts: arch.experts,
            hidden: arch.hidden,
            activation: shape.activation,
            encoder: shape.encoder,
            residual: shape.residual,
            temperature: shape.temperature,
            topk_renorm: shape.topk_renorm,
            router_init_std: shape.router_init_std,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Checks that every size is positive and the options are consistent.
    pub fn validate(&self) -> Result<()> {
        for (field, v) in [("d_in", self.d_in), ("d", self.d), ("d_out", self.d_out)] {
            if v == 0 {
                return Err(invalid(field, "a positive dimension", v));
            }
        }
        if self.hidden == 0 {
            return Err(invalid("hidden", "a positive hidden width", self.hidden));
        }
        match self.routing {
            Routing::Dense if self.experts != 1 => {
                return Err(invalid("experts", "1 for the dense model", self.experts))
            }
            Routing::TopK { k } if k == 0 || k > self.experts => {
                return Err(invalid("k", format!("1 ≤ k ≤ E = {}", self.experts), k))
            }
            _ if self.experts == 0 => return Err(invalid("experts", "at least 1", self.experts)),
            _ => {}
        }
        if !self.encoder && self.d != self.d_in {
            return Err(invalid(
                "d",
                format!("d = d_in = {} when encoder = false", self.d_in),
                self.d,
            ));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(invalid("temperature", "a finite τ > 0", self.temperature));
        }
        if !(self.router_init_std.is_finite() && self.router_init_std >= 0.0) {
            return Err(invalid("router_init_std", "a finite std ≥ 0", self.router_init_std));
        }
        Ok(())
    }

    /// Whether the network has a router (every routing but dense).
    pub fn has_router(&self) -> bool {
        !matches!(self.routing, Routing::Dense)
    }

    /// Parameter counts of this spec.
    pub fn param_counts(&self) -> ParamCounts {
        let (d, e, m) = (self.d, self.experts, self.hidden);
        let encoder = if self.encoder { d * self.d_in + d } else { 0 };
        let readout = self.d_out * d + self.d_out;
        let router = if self.has_router() { e * d + e } else { 0 };
        let per_expert = 2 * d * m + m + d;
        let active_experts = match self.routing {
            Routing::TopK { k } => k,
            _ => e,
        };
        let (ffn, ffn_active) = (per_expert * e, per_expert * active_experts);
        ParamCounts {
            total: encoder + ffn + router + readout,
            active: encoder + ffn_active + router + readout,
            router,
            ffn,
            ffn_active,
        }
    }
}

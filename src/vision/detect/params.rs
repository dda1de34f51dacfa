//! The detector's postprocessing parameters, read and checked from `[model.params]`, and the
//! anchors they give.

use super::DetectError;
use crate::manifest::ModelEntry;

/// The detector's postprocessing parameters (from `[model.params]`).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorParams {
    pub min_sizes: Vec<Vec<f32>>,
    pub steps: Vec<usize>,
    pub variances: [f32; 2],
    pub score_threshold: f32,
    pub nms_iou: f32,
    pub pre_nms_top_k: usize,
    pub max_faces: usize,
    pub min_image_side: u32,
    pub outputs: [String; 3],
}

impl DetectorParams {
    /// Reads and checks the parameters of a detector entry.
    pub fn from_entry(entry: &ModelEntry) -> Result<Self, DetectError> {
        let r = ParamReader { entry };
        let min_sizes = r.min_sizes()?;
        let steps = r.steps(min_sizes.len())?;
        let variances = r.variances()?;
        let score_threshold = r.unit("score_threshold")?;
        let nms_iou = r.unit("nms_iou")?;
        let pre_nms_top_k = r.opt_uint("pre_nms_top_k", 5000)?;
        let max_faces = r.opt_uint("max_faces", 100)?;
        let min_image_side = u32::try_from(r.opt_uint("min_image_side", 8)?)
            .map_err(|e| r.err("min_image_side", e.to_string()))?;
        let outputs = r.outputs()?;
        Ok(Self {
            min_sizes,
            steps,
            variances,
            score_threshold,
            nms_iou,
            pre_nms_top_k,
            max_faces,
            min_image_side,
            outputs,
        })
    }

    /// Anchors `[centre x, centre y, size]` in input pixels for an `in_h`×`in_w` input.
    pub fn anchors(&self, in_h: usize, in_w: usize) -> Vec<[f32; 3]> {
        let mut out = Vec::new();
        for (step, sizes) in self.steps.iter().zip(&self.min_sizes) {
            let (ny, nx) = (in_h.div_ceil(*step), in_w.div_ceil(*step));
            for i in 0..ny {
                for j in 0..nx {
                    for s in sizes {
                        out.push([
                            (j as f32 + 0.5) * *step as f32,
                            (i as f32 + 0.5) * *step as f32,
                            *s,
                        ]);
                    }
                }
            }
        }
        out
    }
}

/// Reads typed values from a detector entry's `[model.params]`, each failure a
/// [`DetectError::Param`] naming the key.
struct ParamReader<'a> {
    entry: &'a ModelEntry,
}

impl ParamReader<'_> {
    /// The error for key `name`.
    fn err(&self, name: &str, message: String) -> DetectError {
        DetectError::Param {
            id: self.entry.id.clone(),
            name: name.to_string(),
            message,
        }
    }

    /// The value of a required key.
    fn get(&self, name: &str) -> Result<&toml::Value, DetectError> {
        self.entry
            .params
            .get(name)
            .ok_or_else(|| self.err(name, "is missing from [model.params]".into()))
    }

    /// A finite number (integers accepted).
    fn num(&self, v: &toml::Value, name: &str) -> Result<f32, DetectError> {
        match v {
            toml::Value::Float(f) if f.is_finite() => Ok(*f as f32),
            toml::Value::Integer(i) => Ok(*i as f32),
            other => Err(self.err(name, format!("must be a finite number, found `{other}`"))),
        }
    }

    /// An array.
    fn arr(&self, v: &toml::Value, name: &str) -> Result<Vec<toml::Value>, DetectError> {
        v.as_array()
            .cloned()
            .ok_or_else(|| self.err(name, format!("must be an array, found `{v}`")))
    }

    /// A positive integer.
    fn uint(&self, v: &toml::Value, name: &str) -> Result<usize, DetectError> {
        match v.as_integer() {
            Some(i) if i > 0 => usize::try_from(i).map_err(|e| self.err(name, e.to_string())),
            _ => Err(self.err(name, format!("must be a positive integer, found `{v}`"))),
        }
    }

    /// A required number in 0..=1.
    fn unit(&self, name: &str) -> Result<f32, DetectError> {
        let x = self.num(self.get(name)?, name)?;
        if (0.0..=1.0).contains(&x) {
            Ok(x)
        } else {
            Err(self.err(name, format!("must lie in 0..=1, found {x}")))
        }
    }

    /// An optional positive integer, `default` when absent.
    fn opt_uint(&self, name: &str, default: usize) -> Result<usize, DetectError> {
        let p = &self.entry.params;
        p.get(name).map_or(Ok(default), |v| self.uint(v, name))
    }

    /// `min_sizes`: positive anchor sizes at every level.
    fn min_sizes(&self) -> Result<Vec<Vec<f32>>, DetectError> {
        self.arr(self.get("min_sizes")?, "min_sizes")?
            .iter()
            .map(|level| {
                let sizes = self
                    .arr(level, "min_sizes")?
                    .iter()
                    .map(|s| self.num(s, "min_sizes"))
                    .collect::<Result<Vec<f32>, _>>()?;
                if sizes.is_empty() || sizes.iter().any(|s| *s <= 0.0) {
                    return Err(self.err("min_sizes", "needs positive sizes at every level".into()));
                }
                Ok(sizes)
            })
            .collect()
    }

    /// `steps`: one positive stride per level of `min_sizes` (`levels` of them).
    fn steps(&self, levels: usize) -> Result<Vec<usize>, DetectError> {
        let steps = self
            .arr(self.get("steps")?, "steps")?
            .iter()
            .map(|s| self.uint(s, "steps"))
            .collect::<Result<Vec<_>, _>>()?;
        if steps.is_empty() || steps.len() != levels {
            return Err(self.err(
                "steps",
                format!(
                    "has {} levels but min_sizes has {} (need the same, at least one)",
                    steps.len(),
                    levels
                ),
            ));
        }
        Ok(steps)
    }

    /// `variances`: two positive numbers.
    fn variances(&self) -> Result<[f32; 2], DetectError> {
        let v = self.arr(self.get("variances")?, "variances")?;
        if v.len() != 2 {
            return Err(self.err(
                "variances",
                format!("must have 2 numbers, found {}", v.len()),
            ));
        }
        let variances = [self.num(&v[0], "variances")?, self.num(&v[1], "variances")?];
        if variances.iter().any(|x| *x <= 0.0) {
            return Err(self.err("variances", "must be positive".into()));
        }
        Ok(variances)
    }

    /// `outputs`: the three ONNX output names (boxes, scores, landmarks), by default
    /// `loc`, `conf`, `landmarks`.
    fn outputs(&self) -> Result<[String; 3], DetectError> {
        let Some(v) = self.entry.params.get("outputs") else {
            return Ok(["loc".into(), "conf".into(), "landmarks".into()]);
        };
        let names = self
            .arr(v, "outputs")?
            .iter()
            .map(|n| {
                n.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| self.err("outputs", format!("must be strings, found `{n}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        <[String; 3]>::try_from(names).map_err(|n| {
            self.err(
                "outputs",
                format!(
                    "must name 3 outputs (boxes, scores, landmarks), found {}",
                    n.len()
                ),
            )
        })
    }
}

//! Test-time variants as data, and the recipe a gallery records.
//!
//! A [`Variant`] is one input transform of the aligned chip before normalisation: mirrored
//! left-right or not × grey or not (grey = luminance `0.299 R + 0.587 G + 0.114 B`, rounded to
//! a grey level, replicated to the 3 channels, as OpenCV's `cvtColor` gives it: [`grey`]). All variants
//! run on one loaded plan: they only change the input tensor.
//!
//! [`Variants`] says which variants run and how their outputs become one stored vector
//! ([`Combine`]):
//! - [`Combine::Mean`]: the raw outputs are summed and the sum L2-normalised. dlib's default is
//!   variants {plain, flip} combined this way (the `flip_tta` option; {plain} without it).
//! - [`Combine::PerPair`]: for each (model, variant) pair in order (models outer, variants
//!   inner) the raw output is L2-normalised and scaled by 1/√k (k = number of pairs), and the
//!   pieces are concatenated. The concatenation has unit length, and its cosine distance to
//!   another such vector is the **mean over the pairs of the per-pair cosine distances**
//!   (GestaltMatcher-Arc's distance), so the gallery's ranking code is unchanged.
//!
//! An [`EmbeddingRecipe`] is the ordered embedder set (ids + sha256) and the variants: what a
//! gallery records and what a pipeline querying it must match exactly.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One test-time input transform of the aligned chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Variant {
    /// Mirrored left-right.
    pub flip: bool,
    /// Luminance replicated to 3 channels.
    pub grey: bool,
}

impl Variant {
    /// The chip as it is.
    pub const PLAIN: Variant = Variant {
        flip: false,
        grey: false,
    };
    /// The chip mirrored.
    pub const FLIP: Variant = Variant {
        flip: true,
        grey: false,
    };
    /// The chip in grey.
    pub const GREY: Variant = Variant {
        flip: false,
        grey: true,
    };
    /// The chip mirrored and in grey.
    pub const FLIP_GREY: Variant = Variant {
        flip: true,
        grey: true,
    };
    /// GestaltMatcher-Arc's four variants, in its order.
    pub const ALL: [Variant; 4] = [Self::PLAIN, Self::FLIP, Self::GREY, Self::FLIP_GREY];

    /// The variant's name in manifests, galleries and JSON: `plain`, `flip`, `grey`,
    /// `flip-grey`.
    pub fn name(self) -> &'static str {
        match (self.flip, self.grey) {
            (false, false) => "plain",
            (true, false) => "flip",
            (false, true) => "grey",
            (true, true) => "flip-grey",
        }
    }

    /// The variant a name denotes (`gray` is accepted for `grey`).
    pub fn parse(name: &str) -> Option<Variant> {
        let name = name.replace("gray", "grey");
        Self::ALL.into_iter().find(|v| v.name() == name)
    }
}

impl Serialize for Variant {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Variant {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Variant::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown variant `{name}` (known: plain, flip, grey, flip-grey)"
            ))
        })
    }
}

/// How the variants' outputs become one vector (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Combine {
    /// Sum of the raw outputs, then L2-normalised (dlib's flip TTA).
    Mean,
    /// Per (model, variant) pair L2-normalised, scaled by 1/√k, concatenated.
    PerPair,
}

impl Combine {
    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Combine::Mean => "mean-then-normalise",
            Combine::PerPair => "per-pair",
        }
    }
}

/// The variants each embedder runs and how their outputs are combined.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Variants {
    /// In order; at least one, no repeats.
    pub list: Vec<Variant>,
    pub combine: Combine,
}

impl Variants {
    /// dlib's default: {plain, flip} with flip TTA, {plain} without, combined by
    /// mean-then-normalise (the behaviour of `EmbedOptions::flip_tta`).
    pub fn dlib(flip_tta: bool) -> Variants {
        let list = if flip_tta {
            vec![Variant::PLAIN, Variant::FLIP]
        } else {
            vec![Variant::PLAIN]
        };
        Variants {
            list,
            combine: Combine::Mean,
        }
    }

    /// `list` combined per pair (GestaltMatcher-Arc's distance); `None` when empty or repeated.
    pub fn per_pair(list: Vec<Variant>) -> Option<Variants> {
        let unique: std::collections::HashSet<_> = list.iter().collect();
        (!list.is_empty() && unique.len() == list.len()).then_some(Variants {
            list,
            combine: Combine::PerPair,
        })
    }

    /// The names, comma-separated, e.g. `plain, flip`.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.list.iter().map(|v| v.name()).collect();
        names.join(", ")
    }
}

/// One member of an embedder set, as a gallery records it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MemberId {
    /// The manifest id.
    pub id: String,
    /// The model file's sha256 (hex).
    pub sha256: String,
    /// [`crate::manifest::ModelEntry::embedder_id`]: the file and its preprocessing.
    pub embedder_id: String,
}

/// The ordered embedder set and the variants a gallery was built with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EmbeddingRecipe {
    pub embedders: Vec<MemberId>,
    pub variants: Variants,
}

impl EmbeddingRecipe {
    /// The id galleries record in their header: the one member's embedder id for a single
    /// embedder combined by mean (dlib's default: unchanged from galleries made before
    /// recipes), else the sha256 of `gestaltcam-ensemble-v1`, the members' embedder ids, the
    /// variant names and the combination, NUL-separated.
    pub fn gallery_id(&self) -> String {
        if let ([one], Combine::Mean) = (self.embedders.as_slice(), self.variants.combine) {
            return one.embedder_id.clone();
        }
        let mut h = Sha256::new();
        h.update(b"gestaltcam-ensemble-v1");
        for m in &self.embedders {
            h.update(b"\0");
            h.update(m.embedder_id.as_bytes());
        }
        for v in &self.variants.list {
            h.update(b"\0");
            h.update(v.name().as_bytes());
        }
        h.update(b"\0");
        h.update(self.variants.combine.name().as_bytes());
        hex::encode(h.finalize())
    }

    /// Whether a gallery recorded with `self` may be queried by a pipeline of `pipeline`.
    /// Equal recipes match. A gallery written before recipes were recorded (`legacy`) matches
    /// any single-embedder mean pipeline of its embedder, as before.
    pub fn accepts(&self, pipeline: &EmbeddingRecipe, legacy: bool) -> bool {
        if legacy {
            return pipeline.variants.combine == Combine::Mean
                && pipeline.gallery_id() == self.gallery_id();
        }
        self == pipeline
    }

    /// A one-line description for messages: members (id and the start of the sha256) and
    /// variants.
    pub fn describe(&self) -> String {
        let members: Vec<String> = self
            .embedders
            .iter()
            .map(|m| format!("{} (sha256 {})", m.id, short(&m.sha256)))
            .collect();
        format!(
            "embedders [{}] × variants [{}] combined {}",
            members.join(", "),
            self.variants.names(),
            self.variants.combine.name()
        )
    }
}

/// The chip in grey: each pixel's luminance `0.299 R + 0.587 G + 0.114 B` rounded to a grey
/// level, in all three channels. Computed as OpenCV's 8-bit `cvtColor` to grey does (the
/// weights in 14-bit fixed point, 4899 / 9617 / 1868, rounded), so the grey chip is the one
/// GestaltMatcher-Arc's preprocessing gives bit for bit.
pub fn grey(chip: &image::RgbImage) -> image::RgbImage {
    let mut out = chip.clone();
    for px in out.pixels_mut() {
        let [r, g, b] = px.0.map(u32::from);
        let y = (4899 * r + 9617 * g + 1868 * b + (1 << 13)) >> 14;
        px.0 = [y.min(255) as u8; 3];
    }
    out
}

/// The first 12 characters of a hash.
fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_names_round_trip_and_gray_is_grey() {
        for v in Variant::ALL {
            assert_eq!(Variant::parse(v.name()), Some(v));
        }
        assert_eq!(Variant::parse("flip-gray"), Some(Variant::FLIP_GREY));
        assert_eq!(Variant::parse("mirror"), None);
        assert!(Variants::per_pair(vec![Variant::FLIP, Variant::FLIP]).is_none());
        assert!(Variants::per_pair(vec![]).is_none());
    }

    #[test]
    fn grey_is_the_rounded_luminance_in_three_channels() {
        let mut chip = image::RgbImage::new(2, 1);
        chip.put_pixel(0, 0, image::Rgb([255, 0, 0]));
        chip.put_pixel(1, 0, image::Rgb([10, 200, 30]));
        let g = grey(&chip);
        // 0.299 × 255 = 76.245; 0.299 × 10 + 0.587 × 200 + 0.114 × 30 = 123.81.
        assert_eq!(g.get_pixel(0, 0).0, [76; 3]);
        assert_eq!(g.get_pixel(1, 0).0, [124; 3]);
        // Every grey level stays itself (the weights sum to 1 in fixed point).
        let mut ramp = image::RgbImage::new(256, 1);
        for (x, _, px) in ramp.enumerate_pixels_mut() {
            px.0 = [x as u8; 3];
        }
        assert_eq!(grey(&ramp), ramp);
    }

    fn member(id: &str) -> MemberId {
        MemberId {
            id: id.into(),
            sha256: format!("{id}-sha"),
            embedder_id: format!("{id}-eid"),
        }
    }

    /// dlib's single-embedder mean recipe keeps the member's id (old galleries still match);
    /// a set or per-pair variants get an id of their own, different per order and variants.
    #[test]
    fn the_gallery_id_is_the_members_for_dlib_and_a_hash_for_sets() {
        let dlib = EmbeddingRecipe {
            embedders: vec![member("a")],
            variants: Variants::dlib(true),
        };
        assert_eq!(dlib.gallery_id(), "a-eid");
        let set = |ids: &[&str], list: Vec<Variant>| EmbeddingRecipe {
            embedders: ids.iter().map(|i| member(i)).collect(),
            variants: Variants::per_pair(list).expect("variants"),
        };
        let ab = set(&["a", "b"], Variant::ALL.to_vec());
        let ba = set(&["b", "a"], Variant::ALL.to_vec());
        let ab2 = set(&["a", "b"], vec![Variant::PLAIN, Variant::FLIP]);
        let ids = [ab.gallery_id(), ba.gallery_id(), ab2.gallery_id()];
        assert_eq!(ids[0].len(), 64);
        assert!(ids[0] != ids[1] && ids[0] != ids[2] && ids[1] != ids[2]);
        assert!(ab.accepts(&ab, false) && !ab.accepts(&ba, false));
        // A legacy gallery accepts its embedder with or without flip, nothing per pair.
        assert!(dlib.accepts(&dlib, true));
        let no_flip = EmbeddingRecipe {
            variants: Variants::dlib(false),
            ..dlib.clone()
        };
        assert!(dlib.accepts(&no_flip, true) && !dlib.accepts(&no_flip, false));
        assert!(!dlib.accepts(&set(&["a"], vec![Variant::PLAIN]), true));
        assert!(ab.describe().contains("a (sha256 a-sha), b (sha256 b-sha)"));
        assert!(ab.describe().contains("plain, flip, grey, flip-grey"));
    }
}

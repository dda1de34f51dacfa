//! The operators of an ONNX model's graph, read from the file without loading it: the memory
//! estimate ([`super::estimate`]) needs to know whether a quantized model computes in integers
//! (its weights stay int8 in tract's plan) or dequantizes its weights (QDQ: f32 in memory).
//!
//! The walk reads the protobuf's keys and the graph's nodes only and seeks past everything
//! else (the weights), so a 260 MB model costs a few kilobytes of reading.
//! `ModelProto.graph` is field 7, `GraphProto.node` field 1, `NodeProto.op_type` field 4
//! (onnx.proto).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// Operators whose int8 inputs tract keeps as int8 (`ConvInteger`, `MatMulInteger` and the
/// `QLinear*` forms).
pub const INTEGER_OPS: [&str; 4] = [
    "ConvInteger",
    "QLinearConv",
    "MatMulInteger",
    "QLinearMatMul",
];

/// A node larger than this is not a node (a damaged or foreign file).
const MAX_NODE_BYTES: u64 = 1 << 20;

const GRAPH: u64 = 7;
const NODE: u64 = 1;
const OP_TYPE: u64 = 4;
const LEN: u64 = 2;

/// Whether the model at `path` has any of [`INTEGER_OPS`] in its main graph.
pub fn computes_in_integers(path: &Path) -> io::Result<bool> {
    let ops = op_types(path)?;
    Ok(INTEGER_OPS.iter().any(|op| ops.contains(*op)))
}

/// The operator types of the main graph's nodes.
pub fn op_types(path: &Path) -> io::Result<BTreeSet<String>> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut r = Walker {
        r: BufReader::new(file),
        pos: 0,
    };
    let mut ops = BTreeSet::new();
    while r.pos < len {
        let (field, wire) = r.key()?;
        if field == GRAPH && wire == LEN {
            let end = r.end_of_field(len)?;
            while r.pos < end {
                let (field, wire) = r.key()?;
                if field == NODE && wire == LEN {
                    let node_end = r.end_of_field(end)?;
                    if node_end - r.pos > MAX_NODE_BYTES {
                        return Err(bad("a graph node larger than 1 MiB"));
                    }
                    let mut node = vec![0; (node_end - r.pos) as usize];
                    r.read(&mut node)?;
                    if let Some(op) = op_type(&node)? {
                        ops.insert(op);
                    }
                } else {
                    r.skip(wire, end)?;
                }
            }
        } else {
            r.skip(wire, len)?;
        }
    }
    Ok(ops)
}

/// `NodeProto.op_type` of one node's bytes.
fn op_type(node: &[u8]) -> io::Result<Option<String>> {
    let len = node.len() as u64;
    let mut r = Walker {
        r: io::Cursor::new(node),
        pos: 0,
    };
    while r.pos < len {
        let (field, wire) = r.key()?;
        if field == OP_TYPE && wire == LEN {
            let end = r.end_of_field(len)?;
            let mut text = vec![0; (end - r.pos) as usize];
            r.read(&mut text)?;
            return String::from_utf8(text)
                .map(Some)
                .map_err(|_| bad("an operator name that is not UTF-8"));
        }
        r.skip(wire, len)?;
    }
    Ok(None)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not an ONNX model: {what}"),
    )
}

/// A protobuf reader that knows its position.
struct Walker<R> {
    r: R,
    pos: u64,
}

impl<R: Read + Seek> Walker<R> {
    fn byte(&mut self) -> io::Result<u8> {
        let mut b = [0u8];
        self.read(&mut b)?;
        Ok(b[0])
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.r.read_exact(buf)?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn varint(&mut self) -> io::Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(bad("a varint longer than 10 bytes"))
    }

    /// A field's number and wire type.
    fn key(&mut self) -> io::Result<(u64, u64)> {
        let key = self.varint()?;
        Ok((key >> 3, key & 7))
    }

    /// Reads a length-delimited field's length: where the field ends, within `limit`.
    fn end_of_field(&mut self, limit: u64) -> io::Result<u64> {
        let n = self.varint()?;
        match self.pos.checked_add(n) {
            Some(end) if end <= limit => Ok(end),
            _ => Err(bad("a field longer than what holds it")),
        }
    }

    /// Moves past a field's value of wire type `wire`, within `limit`.
    fn skip(&mut self, wire: u64, limit: u64) -> io::Result<()> {
        let end = match wire {
            0 => {
                self.varint()?;
                return Ok(());
            }
            1 => self.pos + 8,
            LEN => self.end_of_field(limit)?,
            5 => self.pos + 4,
            _ => return Err(bad("an unknown wire type")),
        };
        if end > limit {
            return Err(bad("a field longer than what holds it"));
        }
        self.r.seek(SeekFrom::Start(end))?;
        self.pos = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn model(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(name)
    }

    /// The shipped dlib forms: the QLinear one computes in integers, the QDQ int8 and the f32
    /// ones do not; every shipped model's operators are read.
    #[test]
    fn reads_the_operators_of_the_shipped_models() {
        let manifest = crate::manifest::Manifest::load(&model("MANIFEST.toml")).unwrap();
        for entry in &manifest.models {
            let ops = op_types(&manifest.file_path(entry)).unwrap();
            assert!(ops.len() >= 3, "{}: {ops:?}", entry.id);
        }
        let integer = |id: &str| {
            let entry = manifest.models.iter().find(|m| m.id == id).unwrap();
            computes_in_integers(&manifest.file_path(entry)).unwrap()
        };
        assert!(integer("dlib-resnet-v1-qlinear"));
        assert!(!integer("dlib-resnet-v1-int8"));
        assert!(!integer("dlib-resnet-v1-f32"));
    }

    /// A file that is not an ONNX model is an error, not an empty set.
    #[test]
    fn a_file_that_is_not_onnx_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.onnx");
        std::fs::write(&path, b"\x3a\xff\xff\xff\xff\x0fnot a model").unwrap();
        assert!(op_types(&path).is_err());
    }
}

//! Key-group bodies: the V2 layout (count, then `(namespace, key, state)` triples) and the V1 layout
//! (namespace-compressed), written in a chosen entry order and read back with every count bounded.

mod canonical;
mod decode;
mod encode;
mod one_pass;

pub use decode::{decode_body, decode_body_at};
pub(crate) use decode::{read_body, read_key_of_group};
pub(crate) use encode::write_body;
pub(crate) use one_pass::v2_bodies_in_snapshot_order;

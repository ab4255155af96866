//! An independent encoder of the checkpoint container, written from docs/FORMAT.md alone (shared by the
//! corruption and golden-vector tests through `#[path]`).

#![allow(dead_code)]

/// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Header fields.
#[derive(Debug, Clone)]
pub struct Head<'a> {
    pub version: u16,
    pub body_format: u16,
    pub max_parallelism: u32,
    pub first_key_group: u32,
    pub key_groups: u32,
    pub ids: [&'a str; 3],
}

/// A container with the given header fields and bodies (one per key group), offsets and CRCs computed as the
/// format says.
pub fn container(head: &Head<'_>, bodies: &[Vec<u8>]) -> Vec<u8> {
    let header_len =
        8 + 2 + 2 + 4 + 4 + 4 + head.ids.iter().map(|s| 2 + s.len()).sum::<usize>() + 20 * bodies.len() + 4;
    let mut offset = header_len as u64;
    let table: Vec<(u64, u64, u32)> = bodies
        .iter()
        .map(|b| {
            let entry = (offset, b.len() as u64, crc32c(b));
            offset += b.len() as u64;
            entry
        })
        .collect();
    container_with_table(head, &table, bodies)
}

/// A container with an explicit key-group table `(offset, length, crc)`.
pub fn container_with_table(head: &Head<'_>, table: &[(u64, u64, u32)], bodies: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"COWSTATE");
    out.extend_from_slice(&head.version.to_be_bytes());
    out.extend_from_slice(&head.body_format.to_be_bytes());
    out.extend_from_slice(&head.max_parallelism.to_be_bytes());
    out.extend_from_slice(&head.first_key_group.to_be_bytes());
    out.extend_from_slice(&head.key_groups.to_be_bytes());
    for id in head.ids {
        out.extend_from_slice(&(id.len() as u16).to_be_bytes());
        out.extend_from_slice(id.as_bytes());
    }
    for &(offset, length, crc) in table {
        out.extend_from_slice(&offset.to_be_bytes());
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let crc = crc32c(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    for b in bodies {
        out.extend_from_slice(b);
    }
    out
}

/// Java `writeInt`.
pub fn int(v: i32) -> [u8; 4] {
    v.to_be_bytes()
}

/// A string as the format's `string` serializer writes it.
pub fn string(s: &str) -> Vec<u8> {
    let mut out = int(s.len() as i32).to_vec();
    out.extend_from_slice(s.as_bytes());
    out
}

/// Parses `text` as hex, ignoring whitespace and `#` comments to the end of a line.
pub fn from_hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Hex, 16 bytes a line.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::new();
    for line in bytes.chunks(16) {
        let words: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
        out.push_str(&words.join(" "));
        out.push('\n');
    }
    out
}

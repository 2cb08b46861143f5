//! The parts of a PE (PE32 or PE32+, EFI images included) that Authenticode needs:
//! where the checksum and the certificate-table directory entry are, and where the
//! certificate table is. Every offset is checked against the file's length before it
//! is read, and every read is bounded by a 16-bit count or by [`MAX_CERT_TABLE`].

use std::io::{Read, Seek, SeekFrom};

use serde::Serialize;

use super::IdentityError;

/// The largest certificate table read (real ones are a few tens of kilobytes).
pub const MAX_CERT_TABLE: u64 = 16 * 1024 * 1024;

/// PE32 or PE32+.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum PeFormat {
    /// 32-bit optional header (magic 0x10b).
    #[serde(rename = "pe32")]
    Pe32,
    /// 64-bit optional header (magic 0x20b).
    #[serde(rename = "pe32+")]
    Pe32Plus,
}

/// Where Authenticode looks in one PE file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeLayout {
    pub format: PeFormat,
    /// Offset of the 4-byte `CheckSum` field.
    pub checksum: u64,
    /// Offset of the 8-byte certificate-table directory entry, when the optional
    /// header has one.
    pub cert_dir: Option<u64>,
    /// The certificate table (offset, size), when the directory entry is not empty.
    pub cert_table: Option<(u64, u64)>,
}

fn read_at<R: Read + Seek>(
    r: &mut R,
    len: u64,
    offset: u64,
    size: u64,
    structure: &str,
) -> Result<Vec<u8>, IdentityError> {
    let end = offset.saturating_add(size);
    if end > len {
        return Err(IdentityError::Truncated {
            structure: structure.to_owned(),
            start: offset,
            end,
            size: len,
        });
    }
    let mut buf = vec![0u8; usize::try_from(size).map_err(|_| too_large(structure, size))?];
    r.seek(SeekFrom::Start(offset))?;
    r.read_exact(&mut buf)?;
    Ok(buf)
}

fn too_large(structure: &str, size: u64) -> IdentityError {
    IdentityError::TooLarge {
        structure: structure.to_owned(),
        size,
        limit: MAX_CERT_TABLE,
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    let mut x = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        x.copy_from_slice(s);
    }
    u16::from_le_bytes(x)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        x.copy_from_slice(s);
    }
    u32::from_le_bytes(x)
}

/// Reads the layout of a PE file of `len` bytes. `Ok(None)`: not a PE (no `MZ`, or an
/// `MZ` file without a `PE\0\0` header where its DOS header points, such as a DOS
/// program or text that starts with `MZ`). Until `PE\0\0` is found, a file is not a
/// PE, so nothing before it is an error.
pub(crate) fn layout<R: Read + Seek>(
    r: &mut R,
    len: u64,
) -> Result<Option<PeLayout>, IdentityError> {
    if len < 64 || read_at(r, len, 0, 2, "DOS signature")? != b"MZ" {
        return Ok(None);
    }
    let dos = read_at(r, len, 0, 64, "DOS header")?;
    let pe = u64::from(u32_at(&dos, 0x3c));
    if pe.saturating_add(4) > len {
        return Ok(None);
    }
    let signature = read_at(r, len, pe, 4, "PE signature")?;
    if signature != b"PE\0\0" {
        return Ok(None);
    }
    let coff = read_at(r, len, pe + 4, 20, "COFF file header")?;
    let sections = u64::from(u16_at(&coff, 2));
    let optional_size = u16_at(&coff, 16);
    let opt = pe + 24;
    let optional = read_at(r, len, opt, u64::from(optional_size), "optional header")?;
    let (format, dirs_at) = match u16_at(&optional, 0) {
        0x10b => (PeFormat::Pe32, 96usize),
        0x20b => (PeFormat::Pe32Plus, 112usize),
        magic => {
            return Err(IdentityError::Malformed(format!(
            "the optional header's magic is 0x{magic:03x}, neither PE32 (0x10b) nor PE32+ (0x20b)"
        )))
        }
    };
    if optional.len() < dirs_at {
        return Err(IdentityError::Malformed(format!(
            "the optional header is {} bytes, too short for its {} fields",
            optional.len(),
            if format == PeFormat::Pe32 {
                "PE32"
            } else {
                "PE32+"
            }
        )));
    }
    let header_size = u64::from(u32_at(&optional, 60));
    if header_size > len {
        return Err(IdentityError::Truncated {
            structure: "headers (SizeOfHeaders)".into(),
            start: 0,
            end: header_size,
            size: len,
        });
    }
    let declared_dirs = u32_at(&optional, dirs_at - 4) as usize;
    let room = (optional.len() - dirs_at) / 8;
    let dirs = declared_dirs.min(room);
    let section_table = opt + u64::from(optional_size);
    let table = read_at(r, len, section_table, sections * 40, "section table")?;
    for raw in table.chunks_exact(40) {
        let size = u64::from(u32_at(raw, 16));
        let at = u64::from(u32_at(raw, 20));
        if size > 0 && at.saturating_add(size) > len {
            let name: String = raw
                .get(..8)
                .unwrap_or_default()
                .iter()
                .take_while(|&&b| b != 0)
                .map(|&b| {
                    if b.is_ascii_graphic() {
                        char::from(b)
                    } else {
                        '?'
                    }
                })
                .collect();
            return Err(IdentityError::Truncated {
                structure: format!("data of section `{name}`"),
                start: at,
                end: at.saturating_add(size),
                size: len,
            });
        }
    }
    let mut cert_dir = None;
    let mut cert_table = None;
    if dirs > 4 {
        let entry_at = dirs_at + 4 * 8;
        let offset = u64::from(u32_at(&optional, entry_at));
        let size = u64::from(u32_at(&optional, entry_at + 4));
        cert_dir = Some(opt + entry_at as u64);
        if offset != 0 || size != 0 {
            if size > MAX_CERT_TABLE {
                return Err(too_large("certificate table", size));
            }
            let end = offset.saturating_add(size);
            if end > len {
                return Err(IdentityError::Truncated {
                    structure: "certificate table".into(),
                    start: offset,
                    end,
                    size: len,
                });
            }
            let headers_end = section_table + sections * 40;
            if offset < headers_end {
                return Err(IdentityError::Malformed(format!(
                    "the certificate table at offset {offset} overlaps the headers (which end at {headers_end})"
                )));
            }
            cert_table = Some((offset, size));
        }
    }
    Ok(Some(PeLayout {
        format,
        checksum: opt + 64,
        cert_dir,
        cert_table,
    }))
}

/// Reads the certificate table.
pub(crate) fn read_cert_table<R: Read + Seek>(
    r: &mut R,
    len: u64,
    (offset, size): (u64, u64),
) -> Result<Vec<u8>, IdentityError> {
    read_at(r, len, offset, size, "certificate table")
}

/// One WIN_CERTIFICATE entry of the table: its type and contents, or why it could
/// not be read.
pub(crate) struct Entry<'a> {
    pub certificate_type: u16,
    pub data: &'a [u8],
}

/// Splits the certificate table into its entries (each 8-byte aligned). A bad entry
/// ends the walk with an error, after the good ones: one cut short or claiming more
/// than the table holds, padding between entries that is not zeros, or more than 7
/// bytes after the last entry (zeros up to the next 8-byte boundary are allowed).
pub(crate) fn entries(table: &[u8]) -> (Vec<Entry<'_>>, Option<String>) {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < table.len() {
        let rest = table.get(at..).unwrap_or_default();
        let zeros = rest.iter().all(|&b| b == 0);
        let Some(header) = rest.get(..8) else {
            if zeros {
                break;
            }
            return (
                out,
                Some(format!("certificate table entry at byte {at} is cut short")),
            );
        };
        let length = u32_at(header, 0) as usize;
        let certificate_type = u16_at(header, 6);
        if length == 0 && zeros {
            return (
                out,
                Some(format!(
                    "{} bytes of zeros follow the last certificate table entry (at most 7 bytes of padding are allowed)",
                    rest.len()
                )),
            );
        }
        let Some(data) = (length >= 8).then(|| rest.get(8..length)).flatten() else {
            return (
                out,
                Some(format!(
                    "certificate table entry at byte {at} claims {length} bytes; the table has {} from there",
                    rest.len()
                )),
            );
        };
        let padded = length.div_ceil(8) * 8;
        let padding = rest.get(length..padded.min(rest.len())).unwrap_or_default();
        if padding.iter().any(|&b| b != 0) {
            return (
                out,
                Some(format!(
                    "the padding after certificate table entry at byte {at} is not zeros"
                )),
            );
        }
        if out.len() >= super::MAX_SIGNATURES {
            return (
                out,
                Some(format!(
                    "more than {} certificate table entries",
                    super::MAX_SIGNATURES
                )),
            );
        }
        out.push(Entry {
            certificate_type,
            data,
        });
        at += padded;
    }
    (out, None)
}

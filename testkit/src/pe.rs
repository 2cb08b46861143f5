//! Small, valid PE images written byte by byte: one `.text` section, an optional
//! overlay, nothing else. Enough for Windows' loader rules that signing tools check,
//! and small enough to truncate at every byte.

/// The kind of image.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// 32-bit console program (i386).
    Pe32,
    /// 64-bit console program (x86-64).
    Pe32Plus,
    /// 64-bit EFI application (x86-64, subsystem 10).
    Efi,
}

/// The file alignment of every image built here; the section's data starts at it.
pub const FILE_ALIGNMENT: usize = 0x200;

/// Where the structures are, for truncation tests.
pub struct Layout {
    /// Offset of the optional header.
    pub optional_header: usize,
    /// Size of the optional header, data directories included.
    pub optional_header_size: usize,
    /// Offset of the section table (one entry).
    pub section_table: usize,
    /// Offset of the `.text` section's data.
    pub section_data: usize,
    /// Size of the `.text` section's data.
    pub section_size: usize,
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// A PE image with `overlay` extra bytes after its section (so that its size need not
/// be a multiple of 8).
pub fn build(kind: Kind, overlay: usize) -> (Vec<u8>, Layout) {
    let plus = !matches!(kind, Kind::Pe32);
    let e_lfanew = 0x40usize;
    let optional_header = e_lfanew + 4 + 20;
    let optional_header_size = if plus { 112 + 16 * 8 } else { 96 + 16 * 8 };
    let section_table = optional_header + optional_header_size;
    let section_data = FILE_ALIGNMENT;
    let section_size = FILE_ALIGNMENT;
    let mut b = vec![0u8; section_data + section_size + overlay];

    // DOS header.
    b[0..2].copy_from_slice(b"MZ");
    put32(&mut b, 0x3c, e_lfanew as u32);
    // PE signature and COFF file header.
    b[e_lfanew..e_lfanew + 4].copy_from_slice(b"PE\0\0");
    let coff = e_lfanew + 4;
    put16(&mut b, coff, if plus { 0x8664 } else { 0x14c });
    put16(&mut b, coff + 2, 1); // one section
    put16(&mut b, coff + 16, optional_header_size as u16);
    put16(&mut b, coff + 18, if plus { 0x0022 } else { 0x0102 });
    // Optional header.
    let o = optional_header;
    put16(&mut b, o, if plus { 0x20b } else { 0x10b });
    put32(&mut b, o + 4, section_size as u32); // SizeOfCode
    put32(&mut b, o + 16, 0x1000); // AddressOfEntryPoint
    put32(&mut b, o + 20, 0x1000); // BaseOfCode
    if plus {
        put64(&mut b, o + 24, 0x1_4000_0000); // ImageBase
    } else {
        put32(&mut b, o + 28, 0x40_0000); // ImageBase
    }
    put32(&mut b, o + 32, 0x1000); // SectionAlignment
    put32(&mut b, o + 36, FILE_ALIGNMENT as u32);
    put16(&mut b, o + 40, 6); // OS version 6.0
    put16(&mut b, o + 48, 6); // subsystem version 6.0
    put32(&mut b, o + 56, 0x2000); // SizeOfImage
    put32(&mut b, o + 60, FILE_ALIGNMENT as u32); // SizeOfHeaders
    put16(
        &mut b,
        o + 68,
        if matches!(kind, Kind::Efi) { 10 } else { 3 },
    );
    if plus {
        put64(&mut b, o + 72, 0x10_0000);
        put64(&mut b, o + 80, 0x1000);
        put64(&mut b, o + 88, 0x10_0000);
        put64(&mut b, o + 96, 0x1000);
        put32(&mut b, o + 108, 16);
    } else {
        put32(&mut b, o + 72, 0x10_0000);
        put32(&mut b, o + 76, 0x1000);
        put32(&mut b, o + 80, 0x10_0000);
        put32(&mut b, o + 84, 0x1000);
        put32(&mut b, o + 92, 16);
    }
    // Section table: `.text`.
    let s = section_table;
    b[s..s + 8].copy_from_slice(b".text\0\0\0");
    put32(&mut b, s + 8, section_size as u32); // VirtualSize
    put32(&mut b, s + 12, 0x1000); // VirtualAddress
    put32(&mut b, s + 16, section_size as u32); // SizeOfRawData
    put32(&mut b, s + 20, section_data as u32); // PointerToRawData
    put32(&mut b, s + 36, 0x6000_0020); // code, execute, read
                                        // Code: `ret`, then a recognisable pattern.
    b[section_data] = 0xc3;
    for (i, byte) in b[section_data + 1..].iter_mut().enumerate() {
        *byte = (i % 251) as u8;
    }
    (
        b,
        Layout {
            optional_header,
            optional_header_size,
            section_table,
            section_data,
            section_size,
        },
    )
}

/// The certificate table (offset, size) of a PE built here (or signed from one).
pub fn cert_table(b: &[u8], kind: Kind) -> (usize, usize) {
    let o = 0x40 + 4 + 20;
    let dirs = if matches!(kind, Kind::Pe32) {
        o + 96
    } else {
        o + 112
    };
    let entry = dirs + 4 * 8;
    let get = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    (get(entry), get(entry + 4))
}

/// Sets the certificate table directory entry.
pub fn set_cert_table(b: &mut [u8], kind: Kind, offset: usize, size: usize) {
    let o = 0x40 + 4 + 20;
    let dirs = if matches!(kind, Kind::Pe32) {
        o + 96
    } else {
        o + 112
    };
    put32(b, dirs + 32, offset as u32);
    put32(b, dirs + 36, size as u32);
}

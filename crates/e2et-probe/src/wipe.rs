//! The wipe probe: which data signatures a disk or partition carries
//! (partition tables, filesystems, LVM, ZFS labels, Ceph BlueStore, LUKS, MD
//! RAID, swap). Anything destructive asks this first; it reads only.
use e2et_model::facts::Signature;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Bytes read from the start of a device: covers btrfs (64 KiB), ISO 9660
/// (32 KiB) and the first ZFS label's uberblocks (128–256 KiB).
const HEAD: usize = 1 << 20;
/// Bytes read from the end: MD 0.90/1.0 superblocks, backup GPT.
const TAIL: u64 = 128 * 1024;

fn at(b: &[u8], off: usize, magic: &[u8]) -> bool {
    b.get(off..off + magic.len()) == Some(magic)
}

fn le16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

fn le32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn sig(kind: &str, offset: u64, detail: impl Into<String>) -> Signature {
    Signature {
        kind: kind.into(),
        offset,
        detail: detail.into(),
    }
}

/// Signatures in a device's head (`head` from offset 0) and tail (`tail`
/// ending at `size`). Pure: tested on synthetic images.
pub fn scan(head: &[u8], tail: &[u8], size: u64) -> Vec<Signature> {
    let mut out = Vec::new();
    // Filesystems and containers at the start.
    if at(head, 0, b"LUKS\xba\xbe") {
        out.push(sig(
            "crypto_LUKS",
            0,
            format!("LUKS version {}", le16_be(head, 6).unwrap_or(0)),
        ));
    }
    if at(head, 0, b"XFSB") {
        out.push(sig("xfs", 0, "XFS superblock"));
    }
    if at(head, 0, b"bluestore block device") {
        out.push(sig("ceph_bluestore", 0, "Ceph BlueStore label"));
    }
    for off in [0usize, 512, 1024, 1536] {
        if at(head, off, b"LABELONE") && at(head, off + 24, b"LVM2 001") {
            out.push(sig("LVM2_member", off as u64, "LVM2 physical volume label"));
            break;
        }
    }
    if le16(head, 1080) == Some(0xEF53) {
        let compat = le32(head, 1024 + 0x5C).unwrap_or(0);
        let incompat = le32(head, 1024 + 0x60).unwrap_or(0);
        let kind = if incompat & 0x40 != 0 {
            "ext4"
        } else if compat & 0x4 != 0 {
            "ext3"
        } else {
            "ext2"
        };
        out.push(sig(kind, 1080, "ext superblock magic 0xEF53"));
    }
    if at(head, 65536 + 64, b"_BHRfS_M") {
        out.push(sig("btrfs", 65536 + 64, "btrfs superblock"));
    }
    for page in [4096usize, 8192, 16384, 65536] {
        let off = page - 10;
        if at(head, off, b"SWAPSPACE2") || at(head, off, b"SWAP-SPACE") {
            out.push(sig(
                "swap",
                off as u64,
                format!("swap signature (page size {page})"),
            ));
            break;
        }
    }
    for off in [0usize, 4096] {
        if le32(head, off) == Some(0xa92b_4efc) {
            out.push(sig(
                "linux_raid_member",
                off as u64,
                format!("MD superblock version 1.{}", if off == 0 { 1 } else { 2 }),
            ));
        }
    }
    if at(head, 32769, b"CD001") {
        out.push(sig("iso9660", 32769, "ISO 9660 volume descriptor"));
    }
    // ZFS: uberblocks (magic 0x00bab10c, either byte order) in the first
    // label's 128 KiB ring at offset 128 KiB.
    let ub_le = 0x00ba_b10c_u64.to_le_bytes();
    let ub_be = 0x00ba_b10c_u64.to_be_bytes();
    if let Some(ring) = head.get(128 * 1024..256 * 1024) {
        if let Some(i) = (0..ring.len() / 1024)
            .find(|i| at(ring, i * 1024, &ub_le) || at(ring, i * 1024, &ub_be))
        {
            out.push(sig(
                "zfs_member",
                (128 * 1024 + i * 1024) as u64,
                "ZFS uberblock in vdev label 0",
            ));
        }
    }
    // Boot sector: FAT and NTFS carry 0x55AA too, so they come before MBR.
    let boot_sig = le16(head, 510) == Some(0xAA55);
    let fat = at(head, 82, b"FAT32   ") || at(head, 54, b"FAT16   ") || at(head, 54, b"FAT12   ");
    if boot_sig && fat {
        out.push(sig("vfat", 0, "FAT boot sector"));
    } else if at(head, 3, b"NTFS    ") {
        out.push(sig("ntfs", 3, "NTFS boot sector"));
    } else if boot_sig {
        let protective = head.get(450) == Some(&0xEE);
        let gpt = [512usize, 4096]
            .into_iter()
            .find(|o| at(head, *o, b"EFI PART"));
        match gpt {
            Some(o) => out.push(sig("gpt", o as u64, "GPT header (protective MBR at 0)")),
            None if protective => out.push(sig(
                "gpt",
                0,
                "protective MBR without a readable GPT header",
            )),
            None => {
                let parts = (0..4)
                    .filter(|i| head.get(450 + 16 * i).is_some_and(|t| *t != 0))
                    .count();
                out.push(sig(
                    "dos",
                    510,
                    format!("MBR partition table, {parts} partition(s)"),
                ));
            }
        }
    }
    // The end of the device: MD 1.0 and 0.90 superblocks.
    if size >= TAIL && tail.len() as u64 == TAIL {
        let base = size - TAIL;
        let v10 = ((size - 8192) & !4095) - base;
        if le32(tail, v10 as usize) == Some(0xa92b_4efc) {
            out.push(sig(
                "linux_raid_member",
                base + v10,
                "MD superblock version 1.0",
            ));
        }
        let v090 = ((size & !(65536 - 1)) - 65536).saturating_sub(base);
        if size >= 131072 && le32(tail, v090 as usize) == Some(0xa92b_4efc) {
            out.push(sig(
                "linux_raid_member",
                base + v090,
                "MD superblock version 0.90",
            ));
        }
    }
    out
}

fn le16_be(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

/// Reads a device (or image file) and scans it. Opens read-only.
pub fn probe(path: &Path) -> std::io::Result<Vec<Signature>> {
    let mut f = File::open(path)?;
    let size = f.seek(SeekFrom::End(0))?;
    f.seek(SeekFrom::Start(0))?;
    let mut head = vec![0u8; HEAD.min(size as usize)];
    f.read_exact(&mut head)?;
    let mut tail = Vec::new();
    if size >= TAIL {
        f.seek(SeekFrom::Start(size - TAIL))?;
        tail.resize(TAIL as usize, 0);
        f.read_exact(&mut tail)?;
    }
    Ok(scan(&head, &tail, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(size: usize) -> Vec<u8> {
        vec![0u8; size]
    }

    #[test]
    fn blank_device_has_no_signature() {
        let b = img(HEAD);
        assert!(scan(&b, &[], b.len() as u64).is_empty());
    }

    #[test]
    fn ext4_and_gpt_and_swap() {
        let mut b = img(HEAD);
        b[1080] = 0x53;
        b[1081] = 0xEF;
        b[1024 + 0x60] = 0x40;
        assert_eq!(scan(&b, &[], HEAD as u64)[0].kind, "ext4");

        let mut g = img(HEAD);
        g[510] = 0x55;
        g[511] = 0xAA;
        g[450] = 0xEE;
        g[512..520].copy_from_slice(b"EFI PART");
        let s = scan(&g, &[], HEAD as u64);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].kind.as_str(), s[0].offset), ("gpt", 512));

        let mut w = img(HEAD);
        w[4086..4096].copy_from_slice(b"SWAPSPACE2");
        assert_eq!(scan(&w, &[], HEAD as u64)[0].kind, "swap");
    }

    #[test]
    fn fat_is_not_taken_for_an_mbr() {
        let mut b = img(HEAD);
        b[510] = 0x55;
        b[511] = 0xAA;
        b[82..90].copy_from_slice(b"FAT32   ");
        let s = scan(&b, &[], HEAD as u64);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].kind, "vfat");
    }

    #[test]
    fn zfs_lvm_bluestore_md() {
        let mut z = img(HEAD);
        let o = 128 * 1024 + 5 * 1024;
        z[o..o + 8].copy_from_slice(&0x00ba_b10c_u64.to_le_bytes());
        assert_eq!(scan(&z, &[], HEAD as u64)[0].kind, "zfs_member");

        let mut l = img(HEAD);
        l[512..520].copy_from_slice(b"LABELONE");
        l[536..544].copy_from_slice(b"LVM2 001");
        assert_eq!(scan(&l, &[], HEAD as u64)[0].kind, "LVM2_member");

        let mut c = img(HEAD);
        c[..22].copy_from_slice(b"bluestore block device");
        assert_eq!(scan(&c, &[], HEAD as u64)[0].kind, "ceph_bluestore");

        let size: u64 = 64 << 20;
        let mut tail = img(TAIL as usize);
        let v10 = ((size - 8192) & !4095) - (size - TAIL);
        tail[v10 as usize..v10 as usize + 4].copy_from_slice(&0xa92b_4efc_u32.to_le_bytes());
        let s = scan(&img(HEAD), &tail, size);
        assert_eq!(s[0].detail, "MD superblock version 1.0");
    }
}

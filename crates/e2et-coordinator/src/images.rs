//! The netboot images e2etd serves besides its default one, one per role:
//! `--image <name>=<dir>`, where `<dir>` holds `kernel`, `initrd` and
//! `cmdline` (the image's own kernel command line, one line). A host names
//! its image in the inventory (`expect.image`, from its profile or itself);
//! its boot script then loads `/boot/images/<name>/{kernel,initrd}`.
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub dir: PathBuf,
    pub cmdline: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ImageError {
    #[error("--image {0:?}: expected <name>=<directory>")]
    Form(String),
    #[error(
        "--image {0:?}: the name is 1 to 64 of a-z, 0-9, - and _, starting with a letter or digit"
    )]
    Name(String),
    #[error("--image {name}: {what}")]
    Dir { name: String, what: String },
    #[error("--image {0}: given twice")]
    Twice(String),
}

/// Parses every `--image` and reads each image's command line; an image
/// whose kernel or initrd is missing is refused at start, not at boot.
pub fn load(args: &[String]) -> Result<BTreeMap<String, Image>, ImageError> {
    let mut out = BTreeMap::new();
    for a in args {
        let (name, dir) = a
            .split_once('=')
            .ok_or_else(|| ImageError::Form(a.clone()))?;
        if !e2et_model::expect::is_image_name(name) {
            return Err(ImageError::Name(name.to_string()));
        }
        let dir = PathBuf::from(dir);
        let bad = |what: String| ImageError::Dir {
            name: name.to_string(),
            what,
        };
        for f in ["kernel", "initrd"] {
            let p = dir.join(f);
            if !p.is_file() {
                return Err(bad(format!("{} is not a file", p.display())));
            }
        }
        let p = dir.join("cmdline");
        let cmdline = std::fs::read_to_string(&p)
            .map_err(|e| bad(format!("{}: {e}", p.display())))?
            .trim()
            .to_string();
        if cmdline.chars().any(|c| c.is_control()) {
            return Err(bad(format!("{} is not one line of text", p.display())));
        }
        if out
            .insert(name.to_string(), Image { dir, cmdline })
            .is_some()
        {
            return Err(ImageError::Twice(name.to_string()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(dir: &std::path::Path, cmdline: &str) {
        std::fs::write(dir.join("kernel"), "k").unwrap();
        std::fs::write(dir.join("initrd"), "i").unwrap();
        std::fs::write(dir.join("cmdline"), cmdline).unwrap();
    }

    #[test]
    fn images_are_read_whole_or_refused_naming_what_is_wrong() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a");
        std::fs::create_dir(&a).unwrap();
        image(&a, "console=ttyS0 init=/nix/store/x-nixos/init\n");
        let arg = format!("aaa-domain-client={}", a.display());
        let m = load(std::slice::from_ref(&arg)).unwrap();
        assert_eq!(
            m["aaa-domain-client"].cmdline,
            "console=ttyS0 init=/nix/store/x-nixos/init"
        );

        assert_eq!(load(&["x".into()]), Err(ImageError::Form("x".into())));
        assert_eq!(
            load(&[format!("Bad Name={}", a.display())]),
            Err(ImageError::Name("Bad Name".into()))
        );
        assert!(matches!(
            load(&[arg.clone(), arg.clone()]),
            Err(ImageError::Twice(_))
        ));
        std::fs::write(a.join("cmdline"), "a\nb").unwrap();
        assert!(matches!(
            load(std::slice::from_ref(&arg)),
            Err(ImageError::Dir { .. })
        ));
        std::fs::remove_file(a.join("initrd")).unwrap();
        let e = load(std::slice::from_ref(&arg)).unwrap_err().to_string();
        assert!(e.contains("initrd is not a file"), "{e}");
    }
}

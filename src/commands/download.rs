//! `peephole download`: fetches MNIST or CIFAR-10 from the publishers'
//! servers and checks every file against the published MD5.
//!
//! Fetching shells out to `curl` and unpacking the CIFAR-10 archive to
//! `tar`; both are on every machine that has a network, and keeping them
//! out of the binary keeps it free of an HTTP and TLS stack. Nothing here
//! runs in CI (no network there); the checksum logic it relies on is
//! tested in `model::data::download`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};
use model::data::DatasetKind;
use model::data::download::{Checksum, remotes, verify};

/// Arguments of `peephole download`.
#[derive(clap::Args)]
pub struct Args {
    /// mnist or cifar10.
    dataset: DatasetKind,
    /// Folder to save into (created if missing).
    #[arg(long, default_value = "data")]
    dir: PathBuf,
}

/// Runs `peephole download`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = args.dir.join(args.dataset.name());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for remote in remotes(args.dataset) {
        let path = dir.join(remote.file);

        // A complete earlier download is kept; a bad one is fetched again.
        // The fetch goes to a side file and replaces `path` only once its
        // checksum holds, so a failed or cut download never costs the file
        // that was there (the repository's own MNIST copy, say).
        if verify(&path, Checksum::Md5(remote.md5)).is_ok() {
            eprintln!("{}: present, checksum ok", path.display());
        } else {
            let part = dir.join(format!("{}.part", remote.file));
            eprintln!("fetching {}", remote.url);
            let status = Command::new("curl")
                .args(["--fail", "--location", "--retry", "3", "--output"])
                .arg(&part)
                .arg(remote.url)
                .status()
                .context("running curl (is it installed?)")?;
            if !status.success() {
                bail!("curl failed on {} ({status})", remote.url);
            }
            verify(&part, Checksum::Md5(remote.md5))?;
            std::fs::rename(&part, &path)
                .with_context(|| format!("moving {} to {}", part.display(), path.display()))?;
            eprintln!("{}: checksum ok", path.display());
        }
        if remote.archive {
            let status = Command::new("tar")
                .arg("-xzf")
                .arg(&path)
                .arg("-C")
                .arg(&dir)
                .status()
                .context("running tar")?;
            if !status.success() {
                bail!("tar could not unpack {} ({status})", path.display());
            }
        }
    }
    eprintln!("{} is in {}", args.dataset, dir.display());
    if args.dataset == DatasetKind::Cifar10 {
        eprintln!(
            "train with --data {} or PEEPHOLE_CIFAR10_DIR",
            dir.display()
        );
    }
    Ok(())
}

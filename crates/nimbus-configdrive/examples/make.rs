//! `make iso9660|vfat SRC_DIR OUT` and `make render INSTANCE.json OUT_DIR`: the code paths of
//! `nimbus configdrive make` and `render` without the rest of the binary, so
//! scripts/bench/configdrive.sh builds in seconds.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [format, src, out] = args.as_slice() else {
        eprintln!("usage: make iso9660|vfat SRC_DIR OUT | make render INSTANCE.json OUT_DIR");
        return ExitCode::from(2);
    };
    let run = || -> Result<(), Box<dyn std::error::Error>> {
        if format == "render" {
            let instance: nimbus_configdrive::Instance =
                serde_json::from_slice(&std::fs::read(src)?)?;
            let md = nimbus_configdrive::InstanceMetadata::new(
                instance,
                Default::default(),
                nimbus_configdrive::Purpose::ConfigDrive,
            );
            nimbus_configdrive::tree_for(&md)?.write_to_dir(std::path::Path::new(out))?;
            return Ok(());
        }
        let format: nimbus_configdrive::Format = format.parse()?;
        let tree = nimbus_configdrive::Tree::from_dir(std::path::Path::new(src))?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(out)?;
        nimbus_configdrive::make_drive(&tree, format, &Default::default(), file)?;
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make: {e}");
            ExitCode::FAILURE
        }
    }
}

//! The build pipeline (nova's `_create_image`): the `_base` image cache,
//! the instance's disks, injection or config drive, and the machine
//! definition the driver starts.

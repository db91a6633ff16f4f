//! The room's rules, driven through a recording `Io` (`support`), one file per
//! concern. Sockets are numbers.

mod admission;
mod checks;
mod joining;
mod leaving;
mod limits;
mod members;
mod personal;
mod publishing;
mod shards;
mod support;
mod write_behind;

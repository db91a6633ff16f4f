//! The objects of one room. Shard 0 is the room's first object, named by the room id
//! itself, as every room is today: a room that never grows past `ROOM_SHARD_SIZE`
//! stays exactly one object. Shard `k` ≥ 1 is named `<room id>#<k>`: `#` is in no room
//! id (`A-Z a-z 0-9 _ - . :`), so no room's first object can collide with another
//! room's shard, and the personal channels' objects use a prefix of their own.

use crate::room_id::RoomId;

/// The separator no room id contains.
pub const SEPARATOR: char = '#';

/// The Durable Object name of shard `shard` of `room` (0: the room's first object).
pub fn object_name(room: &RoomId, shard: u16) -> String {
    match shard {
        0 => room.as_str().to_owned(),
        k => format!("{}{SEPARATOR}{k}", room.as_str()),
    }
}

/// The room and shard an object name stands for; `None` for a name no room object
/// has.
pub fn parse_object_name(name: &str) -> Option<(RoomId, u16)> {
    match name.split_once(SEPARATOR) {
        None => Some((RoomId::parse(name).ok()?, 0)),
        Some((room, k)) => {
            let k: u16 = k.parse().ok().filter(|k| *k > 0)?;
            // Exactly the digits `object_name` writes: no sign, no leading zero.
            (k.to_string() == name[room.len() + 1..]).then_some(())?;
            Some((RoomId::parse(room).ok()?, k))
        }
    }
}

/// Where the Worker sends an upgrade the room's first object placed on shard `shard`
/// with placement number `placement`: a path of the internal origin, which no client
/// can reach (the Worker forwards only `/rooms/…` upgrades from outside).
pub fn join_path(room: &RoomId, shard: u16, placement: u64) -> String {
    format!("/join/{shard}/{placement}/{}", room.as_str())
}

/// The (room, shard, placement) a join path names.
pub fn parse_join_path(path: &str) -> Option<(RoomId, u16, u64)> {
    let mut parts = path.strip_prefix("/join/")?.splitn(3, '/');
    let shard: u16 = parts.next()?.parse().ok().filter(|k| *k > 0)?;
    let placement: u64 = parts.next()?.parse().ok()?;
    let room = RoomId::parse(parts.next()?).ok()?;
    Some((room, shard, placement))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_paths_round_trip_and_odd_ones_are_none() {
        let room = RoomId::parse("team:42").unwrap();
        let path = join_path(&room, 3, 17);
        assert_eq!(path, "/join/3/17/team:42");
        assert_eq!(parse_join_path(&path), Some((room, 3, 17)));
        for odd in [
            "/join/0/1/r",
            "/join/x/1/r",
            "/join/1/1/",
            "/join/1/1/a#b",
            "/rooms/r",
        ] {
            assert_eq!(parse_join_path(odd), None, "{odd}");
        }
    }

    #[test]
    fn shard_zero_is_the_room_itself_and_names_round_trip() {
        let room = RoomId::parse("team:42").unwrap();
        assert_eq!(object_name(&room, 0), "team:42");
        assert_eq!(object_name(&room, 7), "team:42#7");
        for k in [0, 1, 63] {
            assert_eq!(
                parse_object_name(&object_name(&room, k)),
                Some((room.clone(), k))
            );
        }
    }

    #[test]
    fn no_room_id_names_a_shard_and_odd_names_are_none() {
        // A room id cannot contain the separator, so it never parses as one.
        assert!(RoomId::parse("room#1").is_err());
        for odd in [
            "room#0", "room#01", "room#+1", "room#", "#1", "room#1#2", "room#x",
        ] {
            assert_eq!(parse_object_name(odd), None, "{odd}");
        }
    }
}

//! Feeds arbitrary bytes to the embedded DNS server's handling of one
//! query, over UDP and over TCP, with a few endpoint records on disk: any
//! packet gets an answer, a FORMERR or nothing, never a panic; and an
//! answer is itself a well-formed DNS message that fits a UDP reply.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wharf::net::dns::answer_raw;

/// A network `n1` with `web` (two replicas, one with IPv6) and `db`.
fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("wharf-fuzz-dns-{}", std::process::id()));
        let dir = wharf::net::endpoints_dir(&root, "n1");
        std::fs::create_dir_all(&dir).expect("endpoint dir");
        let records = [
            ("c1", "p-web-1", r#"["web","p-web-1","alias"]"#, r#""10.9.0.2""#, r#""fd00::2""#),
            ("c2", "p-web-2", r#"["web","p-web-2"]"#, r#""10.9.0.3""#, "null"),
            ("c3", "p-db-1", r#"["db","p-db-1"]"#, r#""10.9.0.4""#, "null"),
        ];
        for (id, name, names, v4, v6) in records {
            let json = format!(
                r#"{{"container_id":"{id}","container_name":"{name}","network_id":"n1","network_name":"net1","names":{names},"ipv4":{v4},"ipv6":{v6},"mac":"","ifname":"eth0"}}"#
            );
            std::fs::write(dir.join(format!("{id}.json")), json).expect("endpoint record");
        }
        root
    })
}

fuzz_target!(|data: &[u8]| {
    for tcp in [false, true] {
        if let Some(reply) = answer_raw(root(), vec!["n1".into()], data, tcp) {
            assert!(reply.len() >= 12, "a reply shorter than a DNS header");
            assert_eq!(reply[..2], data[..2], "a reply with another id");
            assert!(reply[2] & 0x80 != 0, "a reply without the response bit");
            if !tcp {
                assert!(reply.len() <= 4096, "a UDP reply of {} bytes", reply.len());
            }
        }
    }
});

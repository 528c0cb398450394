//! A container's own network, as Docker's default bridge gives one:
//! configured before the process starts, IPv4 only, its interface named
//! `eth0` and kept past pasta, so that a published port comes free as soon
//! as pasta is gone.

use std::time::Duration;

use super::{assert_no_leftovers, listening, ready};

/// Docker's guarantee: a container's network is configured when its
/// process starts (the runtime's hook waits for pasta, `network.rs`),
/// however long pasta takes: here it is made slow, by wrappers named as
/// img runs pasta that sleep before they execute it, and the process's
/// first instruction looks.
#[test]
fn the_network_is_configured_when_the_process_starts() {
    let Some(env) = ready() else { return };
    env.sh(
        "mkdir slow && for p in pasta pasta.avx2; do real=$(command -v $p) || continue; \
         printf '#!/bin/sh\nsleep 0.5\nexec %s \"$@\"\n' \"$real\" > slow/$p && chmod +x slow/$p; done",
    )
    .ok();
    let out = env
        .sh("PATH=$PWD/slow:$PATH img-run --rm base busybox sh -c 'busybox ip -4 route; busybox ip -4 addr'")
        .ok()
        .stdout;
    assert!(out.contains("default via"), "no default route: {out}");
    assert!(
        out.lines()
            .any(|l| l.contains("inet ") && !l.contains("127.0.0.1")),
        "no address but loopback: {out}"
    );
    assert_no_leftovers(&env);
}

/// Docker's default bridge network is IPv4 only (IPv6 only where the
/// daemon enables it): the container has an IPv4 address and default
/// route, and none of the host's global IPv6 addresses or routes, however
/// many the host has — also with a port published on an IPv4 address. A
/// port published with no address answers on the host's IPv6 loopback
/// too, as Docker's does (there pasta gives the namespace IPv6 as well:
/// see `network::listens_on_ipv6`).
#[test]
fn the_default_network_is_ipv4_only_as_dockers_bridge() {
    let Some(env) = ready() else { return };
    let port = serve_host();
    let seen = env
        .sh(&format!(
            "img-run --rm -p 127.0.0.1::80 base busybox sh -c 'busybox ip -6 addr show scope global
             busybox ip -6 route show default; echo --; busybox ip -4 route show default
             gateway=$(busybox ip -4 route show default | busybox cut -d\\  -f3)
             busybox wget -q -O - http://$gateway:{port}/ || echo no outbound'"
        ))
        .ok()
        .stdout;
    let (v6, v4) = seen.split_once("--\n").unwrap_or_else(|| panic!("{seen}"));
    assert_eq!(v6, "", "IPv6 beyond the link: {seen}");
    assert!(v4.starts_with("default via "), "{seen}");
    assert!(v4.ends_with("from-the-host\n"), "IPv4 outbound: {seen}");
    env.sh("img-run -d --name v6 -p 80 -v $PWD/www:/www base busybox httpd -f -p 80 -h /www")
        .ok();
    let port = env
        .sh("img-ps --filter name=v6 --format '{{.Ports}}' | sed -E 's/.*:([0-9]+)->.*/\\1/'")
        .ok()
        .stdout;
    let fetched = env
        .sh(&format!(
            "for i in $(seq 200); do curl -sf 'http://[::1]:{}/index.html' && exit 0; sleep 0.05; done; exit 1",
            port.trim()
        ))
        .ok()
        .stdout;
    assert_eq!(fetched, "hello-from-container\n");
    env.sh("img-rm --container -f v6").ok();
    assert_no_leftovers(&env);
}

/// A one-shot HTTP server on every IPv4 address of the host, answering
/// `from-the-host`; its port. (Its thread waits for that one request; a
/// test that fails before it ends the test process with it.)
fn serve_host() -> u16 {
    let listener = std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut conn, _)) = listener.accept() {
            let mut buf = [0u8; 1024];
            let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 14\r\n\r\nfrom-the-host\n");
        }
    });
    port
}

/// The container's interface is `eth0`, as Docker names it, and with a
/// published port it is a tap device made persistent once pasta attached
/// to it (`network::keep_interface`): pasta's exit then does not wait for
/// the device's unregistering before the port comes free; the device goes
/// with the namespace.
#[test]
fn a_published_containers_interface_is_eth0_and_outlives_pasta() {
    let Some(env) = ready() else { return };
    env.sh("img-run -d --name kept -p 127.0.0.1::80 base busybox sleep 6071")
        .ok();
    // The container's process, seen from the host (a number no other
    // test sleeps for).
    let pid = env.sh("pgrep -f -x 'busybox sleep 6071'").ok().stdout;
    let link = env
        .sh(&format!(
            "nsenter -t {} -n ip -d link show eth0",
            pid.trim()
        ))
        .ok()
        .stdout;
    assert!(link.contains("tun type tap"), "{link}");
    assert!(link.contains("persist on"), "{link}");
    let port = env
        .sh("img-ps --filter name=kept --format '{{.Ports}}' | sed -E 's/.*:([0-9]+)->.*/\\1/'")
        .ok()
        .stdout;
    let port: u16 = port.trim().parse().unwrap();
    assert!(listening(port));
    env.sh("img-rm --container -f kept").ok();
    assert!(!listening(port), "port {port} still in use after img-rm -f");
    assert_no_leftovers(&env);
}

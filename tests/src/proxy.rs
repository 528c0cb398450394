//! A fault-injecting TCP proxy on 127.0.0.1, between img and a test
//! registry: it forwards bytes both ways and, on the way back to the
//! client, can cut a connection, stall it, flip a byte or slow it down once
//! a connection has carried a given number of bytes, hold every connection
//! once a budget of bytes is spent, or hold new connections until the test
//! lets them through. It counts what it
//! forwarded, so tests can tell how much a resumed pull downloaded.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to a connection's server-to-client bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: forward faithfully.
    None,
    /// Close the connection after it carried `after` bytes; `times` connections.
    Cut { after: u64, times: usize },
    /// Stop forwarding after `after` bytes, holding the connection open for
    /// `seconds`; `times` connections.
    Stall {
        after: u64,
        seconds: u64,
        times: usize,
    },
    /// Flip the byte at offset `at` of the connection's stream; `times` connections.
    Corrupt { at: u64, times: usize },
    /// Forward at most `bytes_per_second` after the first `after` bytes.
    Throttle { after: u64, bytes_per_second: u64 },
    /// Forward `after` bytes in all, over every connection together, then
    /// nothing more: every connection is held open until the proxy stops.
    /// A download through it can never finish.
    Hold { after: u64 },
    /// Close one connection after it carried `after` bytes, and hold every
    /// connection made after that (not yet passed on to the server) until
    /// [`Proxy::release`]: what the client asks next waits for the test.
    CutThenHold { after: u64 },
}

/// A running proxy; stopped when dropped.
pub struct Proxy {
    /// `127.0.0.1:PORT` to give to img instead of the registry.
    pub host: String,
    fault: Arc<Mutex<Fault>>,
    /// Bytes forwarded from the server to clients.
    pub downstream: Arc<AtomicU64>,
    /// Faults applied so far.
    pub applied: Arc<AtomicUsize>,
    /// A rate limit (bytes per second, 0 for none) on top of the fault.
    pub throttle: Arc<AtomicU64>,
    /// New connections wait while this is set (see [`Fault::CutThenHold`]).
    holding: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Proxy to `upstream` whose connections carry their first MiB at
    /// full speed (a manifest, a config, a small layer) and the rest at
    /// `bytes_per_second`.
    pub fn throttled(upstream: &str, bytes_per_second: u64) -> Proxy {
        Proxy::start(
            upstream,
            Fault::Throttle {
                after: 1 << 20,
                bytes_per_second,
            },
        )
    }

    /// Proxy to `upstream` (`host:port`) with `fault`.
    pub fn start(upstream: &str, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let proxy = Proxy {
            host,
            fault: Arc::new(Mutex::new(fault)),
            downstream: Arc::new(AtomicU64::new(0)),
            applied: Arc::new(AtomicUsize::new(0)),
            throttle: Arc::new(AtomicU64::new(0)),
            holding: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let upstream = upstream.to_string();
        let shared = Shared {
            fault: proxy.fault.clone(),
            downstream: proxy.downstream.clone(),
            applied: proxy.applied.clone(),
            stop: proxy.stop.clone(),
            throttle: proxy.throttle.clone(),
            holding: proxy.holding.clone(),
        };
        std::thread::spawn(move || {
            while !shared.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let (shared, upstream) = (shared.clone(), upstream.clone());
                        std::thread::spawn(move || {
                            while shared.holding.load(Ordering::SeqCst)
                                && !shared.stop.load(Ordering::SeqCst)
                            {
                                std::thread::sleep(Duration::from_millis(10));
                            }
                            if let Ok(server) = TcpStream::connect(&upstream) {
                                relay(client, server, &shared);
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        proxy
    }

    /// Change the fault for new bytes.
    pub fn set_fault(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// Let the connections [`Fault::CutThenHold`] holds through.
    pub fn release(&self) {
        self.holding.store(false, Ordering::SeqCst);
    }
}

/// What every connection's relay shares with the proxy.
#[derive(Clone)]
struct Shared {
    fault: Arc<Mutex<Fault>>,
    downstream: Arc<AtomicU64>,
    applied: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    throttle: Arc<AtomicU64>,
    holding: Arc<AtomicBool>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn relay(client: TcpStream, server: TcpStream, shared: &Shared) {
    let Shared {
        fault,
        downstream,
        applied,
        stop,
        throttle,
        holding,
    } = shared;
    let (Ok(mut client_read), Ok(mut server_write)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    // Client to server: faithful.
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match client_read.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if server_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = server_write.shutdown(Shutdown::Write);
    });
    let mut server_read = server;
    let mut client_write = client;
    let mut buf = vec![0u8; 16 << 10];
    let mut carried = 0u64;
    let mut faulted = false;
    loop {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let n = match server_read.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let current = *fault.lock().unwrap();
        let (start, end) = (carried, carried + n as u64);
        let mut chunk = buf[..n].to_vec();
        let mut claim = |times: usize| -> bool {
            if faulted {
                return false;
            }
            // Each connection is faulted at most once, `times` in all.
            let mut now = applied.load(Ordering::SeqCst);
            while now < times {
                match applied.compare_exchange(now, now + 1, Ordering::SeqCst, Ordering::SeqCst) {
                    Ok(_) => {
                        faulted = true;
                        return true;
                    }
                    Err(seen) => now = seen,
                }
            }
            false
        };
        match current {
            Fault::Hold { after } => {
                // Take what is left of the budget all connections share.
                let keep = loop {
                    let sent = downstream.load(Ordering::SeqCst);
                    let keep = (n as u64).min(after.saturating_sub(sent));
                    if downstream
                        .compare_exchange(sent, sent + keep, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
                    {
                        break keep as usize;
                    }
                };
                if client_write.write_all(&chunk[..keep]).is_err() {
                    break;
                }
                if keep < n {
                    while !stop.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    break;
                }
                carried = end;
                continue;
            }
            Fault::CutThenHold { after } if end > after && claim(1) => {
                holding.store(true, Ordering::SeqCst);
                let keep = (after.saturating_sub(start)) as usize;
                let _ = client_write.write_all(&chunk[..keep]);
                downstream.fetch_add(keep as u64, Ordering::SeqCst);
                break;
            }
            Fault::Cut { after, times } if end > after && claim(times) => {
                let keep = (after.saturating_sub(start)) as usize;
                let _ = client_write.write_all(&chunk[..keep]);
                downstream.fetch_add(keep as u64, Ordering::SeqCst);
                break;
            }
            Fault::Stall {
                after,
                seconds,
                times,
            } if end > after && claim(times) => {
                let keep = (after.saturating_sub(start)) as usize;
                let _ = client_write.write_all(&chunk[..keep]);
                downstream.fetch_add(keep as u64, Ordering::SeqCst);
                for _ in 0..seconds * 10 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                break;
            }
            Fault::Corrupt { at, times } if at >= start && at < end && claim(times) => {
                chunk[(at - start) as usize] ^= 0x5a;
            }
            Fault::Throttle {
                after,
                bytes_per_second,
            } if end > after => {
                std::thread::sleep(Duration::from_secs_f64(n as f64 / bytes_per_second as f64));
            }
            _ => {}
        }
        let rate = throttle.load(Ordering::SeqCst);
        if rate > 0 {
            std::thread::sleep(Duration::from_secs_f64(n as f64 / rate as f64));
        }
        if client_write.write_all(&chunk).is_err() {
            break;
        }
        downstream.fetch_add(n as u64, Ordering::SeqCst);
        carried = end;
    }
    let _ = client_write.shutdown(Shutdown::Both);
    let _ = server_read.shutdown(Shutdown::Both);
}

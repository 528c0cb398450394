//! A fault-injecting TCP proxy on 127.0.0.1, between img and a test
//! registry: it forwards bytes both ways and, on the way back to the
//! client, can cut a connection, stall it, flip a byte or slow it down once
//! a connection has carried a given number of bytes. It counts what it
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
    stop: Arc<AtomicBool>,
}

impl Proxy {
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
            stop: Arc::new(AtomicBool::new(false)),
        };
        let upstream = upstream.to_string();
        let (fault, downstream, applied, stop, throttle) = (
            proxy.fault.clone(),
            proxy.downstream.clone(),
            proxy.applied.clone(),
            proxy.stop.clone(),
            proxy.throttle.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(&upstream) else {
                            continue;
                        };
                        let (fault, downstream, applied, stop, throttle) = (
                            fault.clone(),
                            downstream.clone(),
                            applied.clone(),
                            stop.clone(),
                            throttle.clone(),
                        );
                        std::thread::spawn(move || {
                            relay(
                                client,
                                server,
                                &fault,
                                &downstream,
                                &applied,
                                &stop,
                                &throttle,
                            )
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
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn relay(
    client: TcpStream,
    server: TcpStream,
    fault: &Mutex<Fault>,
    downstream: &AtomicU64,
    applied: &AtomicUsize,
    stop: &AtomicBool,
    throttle: &AtomicU64,
) {
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

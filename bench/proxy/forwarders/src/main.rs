//! Bare forwarders for calibration (not pgkeel): `forwarders MODE LISTEN UPSTREAM`, MODE = tokio1
//! (tokio current-thread + copy_bidirectional), tokio2 (two workers) or threads (blocking,
//! a thread per direction). They show what a userspace hop costs with no inspection at all.
use std::io::{Read, Write};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    match a[1].as_str() {
        "threads" => threads(&a[2], &a[3]),
        m => {
            let rt = if m == "tokio1" { tokio::runtime::Builder::new_current_thread().enable_all().build() }
                     else { tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() };
            rt.unwrap().block_on(tokio_fwd(a[2].clone(), a[3].clone()));
        }
    }
}
async fn tokio_fwd(listen: String, up: String) {
    let l = tokio::net::TcpListener::bind(&listen).await.unwrap();
    loop {
        let (mut c, _) = l.accept().await.unwrap();
        c.set_nodelay(true).unwrap();
        let up = up.clone();
        tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(up).await.unwrap();
            s.set_nodelay(true).unwrap();
            let _ = tokio::io::copy_bidirectional(&mut c, &mut s).await;
        });
    }
}
fn threads(listen: &str, up: &str) {
    let l = std::net::TcpListener::bind(listen).unwrap();
    for c in l.incoming() {
        let c = c.unwrap(); c.set_nodelay(true).unwrap();
        let s = std::net::TcpStream::connect(up).unwrap(); s.set_nodelay(true).unwrap();
        let (c2, s2) = (c.try_clone().unwrap(), s.try_clone().unwrap());
        std::thread::spawn(move || pipe(c, s));
        std::thread::spawn(move || pipe(s2, c2));
    }
}
fn pipe(mut from: std::net::TcpStream, mut to: std::net::TcpStream) {
    let mut buf = vec![0u8; 65536];
    loop {
        match from.read(&mut buf) { Ok(0) | Err(_) => { let _ = to.shutdown(std::net::Shutdown::Write); return }
            Ok(n) => if to.write_all(&buf[..n]).is_err() { return } }
    }
}

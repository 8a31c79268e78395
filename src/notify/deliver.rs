//! Sending one payload: to a command's stdin, or as an HTTP POST.
//!
//! The POST is a minimal hand-rolled HTTP/1.1 request over tokio (TLS for
//! `https://` through `tokio-native-tls`, the same native-tls the journal
//! database's connections use) rather than an HTTP client crate: one request
//! with `Connection: close`, whose status line is all that is read, needs
//! no pooling, redirects or body decoding, and this adds no dependency
//! tree to a tool operators install on production bastions.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::runbook::model::WebhookUrl;

/// The longest status line (or stderr tail) read back.
const READ_LIMIT: u64 = 8 * 1024;
/// How long a killed command is waited for (SIGKILL takes a moment).
const REAP_WAIT: Duration = Duration::from_secs(1);

/// Run `command` with `sh -c` in `workdir`, the payload on its stdin; it must
/// exit 0 within `limit`, else its process group is killed.
pub async fn run_command(
    command: &str,
    workdir: &std::path::Path,
    kind: &str,
    json: &str,
    limit: Duration,
) -> Result<(), String> {
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .current_dir(workdir)
        .env("RUNSHEET_NOTIFY_KIND", kind)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `sh -c`: {e}"))?;
    let group = child.id().and_then(|pid| i32::try_from(pid).ok());
    let kill_group = || {
        if let Some(pgid) = group {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    };
    let exchange = async {
        if let Some(mut stdin) = child.stdin.take() {
            // A command that does not read its stdin is not a failure.
            let _ = stdin.write_all(json.as_bytes()).await;
        }
        // Stderr is read while the command runs (so a chatty one never
        // blocks on a full pipe) and not waited on past its exit: a process
        // it left behind may hold the pipe open for ever.
        let mut stderr = child.stderr.take();
        let mut tail = Vec::new();
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                more = read_some(&mut stderr, &mut tail) => if !more { stderr = None },
            }
        };
        // What it wrote before exiting is in the pipe already.
        while let Ok(true) = tokio::time::timeout(Duration::ZERO, read_some(&mut stderr, &mut tail)).await {}
        status.map(|status| (status, tail))
    };
    let result = tokio::time::timeout(limit, exchange).await;
    // Nothing of it is left running: what it started in its process group
    // goes with it, whether it finished or ran out of time.
    kill_group();
    match result {
        Ok(Ok((status, _))) if status.success() => Ok(()),
        Ok(Ok((status, tail))) => {
            let said = String::from_utf8_lossy(&tail);
            let last: String = said
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            Err(format!(
                "the command ended with {status}{}",
                if last.is_empty() {
                    String::new()
                } else {
                    format!(": {last}")
                }
            ))
        }
        Ok(Err(e)) => Err(format!("the command could not be waited for: {e}")),
        Err(_) => {
            // Reaped before going on: nothing of it is left when runsheet exits.
            let _ = tokio::time::timeout(REAP_WAIT, child.wait()).await;
            Err(format!(
                "the command did not finish within {:.0} s and was killed",
                limit.as_secs_f64()
            ))
        }
    }
}

/// Read what `pipe` has into `tail`, keeping its last [`READ_LIMIT`] bytes;
/// `false` at its end (or with no pipe left, never ready).
async fn read_some(pipe: &mut Option<tokio::process::ChildStderr>, tail: &mut Vec<u8>) -> bool {
    let Some(pipe) = pipe else {
        return std::future::pending().await;
    };
    let mut buf = [0u8; 4096];
    match pipe.read(&mut buf).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            tail.extend_from_slice(&buf[..n]);
            let over = tail.len().saturating_sub(READ_LIMIT as usize);
            tail.drain(..over);
            true
        }
    }
}

/// POST `json` to `url`; a 2xx answer within `limit` is success.
pub async fn post(url: &WebhookUrl, json: &str, limit: Duration) -> Result<(), String> {
    match tokio::time::timeout(limit, post_unbounded(url, json)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {:.0} s", limit.as_secs_f64())),
    }
}

async fn post_unbounded(url: &WebhookUrl, json: &str) -> Result<(), String> {
    let tcp = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let host = if url.host.contains(':') {
        format!("[{}]", url.host)
    } else {
        url.host.clone()
    };
    let default_port = if url.tls { 443 } else { 80 };
    let host = if url.port == default_port {
        host
    } else {
        format!("{host}:{}", url.port)
    };
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: runsheet/{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        url.path,
        env!("CARGO_PKG_VERSION"),
        json.len()
    );
    if url.tls {
        let connector = native_tls::TlsConnector::new().map_err(|e| format!("cannot set up TLS: {e}"))?;
        let stream = tokio_native_tls::TlsConnector::from(connector)
            .connect(&url.host, tcp)
            .await
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
        exchange(stream, &request).await
    } else {
        exchange(tcp, &request).await
    }
}

/// Send the request, read the status line, judge it.
async fn exchange(mut stream: impl AsyncRead + AsyncWrite + Unpin, request: &str) -> Result<(), String> {
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send the request: {e}"))?;
    stream
        .flush()
        .await
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut status = String::new();
    BufReader::new(stream.take(READ_LIMIT))
        .read_line(&mut status)
        .await
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    let mut parts = status.trim_end().splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    match code.parse::<u16>() {
        Ok(code) if version.starts_with("HTTP/") && (200..300).contains(&code) => Ok(()),
        Ok(code) if version.starts_with("HTTP/") => Err(format!(
            "the server answered HTTP {code} {}",
            parts.next().unwrap_or("").chars().take(200).collect::<String>()
        )),
        _ => Err("the server's answer is not HTTP".into()),
    }
}

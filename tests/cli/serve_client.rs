//! Helpers of tests/cli_serve*.rs (included with `#[path]`): start `glassbox serve` on an
//! ephemeral loopback port, send HTTP/1.1 requests over a plain TCP stream, signal the
//! server.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use super::support::glassbox;

/// A server process, killed when dropped.
pub struct Served {
    child: Option<Child>,
    pub addr: String,
    stderr_file: std::path::PathBuf,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The `error` message of a JSON error answer.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl Served {
    /// Starts `glassbox serve ARGS --addr 127.0.0.1:0` and waits for its `listening on` line.
    pub fn start(args: &[&str], stderr_file: std::path::PathBuf) -> Served {
        let err = std::fs::File::create(&stderr_file).unwrap();
        let mut child = glassbox()
            .arg("serve")
            .args(args)
            .args(["--addr", "127.0.0.1:0", "--threads", "2"])
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("the binary runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| {
                panic!(
                    "no listening line: {line:?}; stderr: {}",
                    std::fs::read_to_string(&stderr_file).unwrap_or_default()
                )
            })
            .to_string();
        Served {
            child: Some(child),
            addr,
            stderr_file,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends signal `name` (HUP, TERM) to the server.
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args(["-s", name, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to end; its exit code and standard error.
    pub fn wait(mut self) -> (Option<i32>, String) {
        let status = self.child.take().unwrap().wait().unwrap();
        let stderr = std::fs::read_to_string(&self.stderr_file).unwrap_or_default();
        (status.code(), stderr)
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_file).unwrap_or_default()
    }

    /// One request; `headers` are extra header lines.
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut stream = self.connect();
        write_head(&mut stream, method, path, headers, body.len());
        stream.write_all(body).unwrap();
        read_reply(stream)
    }

    pub fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], b"")
    }

    pub fn post_json(&self, path: &str, body: &str) -> Reply {
        self.send(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
    }

    pub fn post_csv(&self, path: &str, body: &str) -> Reply {
        self.send(
            "POST",
            path,
            &[("Content-Type", "text/csv")],
            body.as_bytes(),
        )
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Writes a request head announcing `length` body bytes.
pub fn write_head(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    length: usize,
) {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {length}\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
}

/// Reads an answer to the end of the connection.
pub fn read_reply(mut stream: TcpStream) -> Reply {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"));
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "this client reads Content-Length bodies only"
    );
    Reply {
        status,
        headers: head.to_string(),
        body: body.to_string(),
    }
}

/// The rows of a CSV text as JSON row objects, numbers as written (by column kind: `age`
/// and `visits` numeric, `weekend` boolean, the rest text).
pub fn csv_to_json_rows(csv: &str) -> Vec<String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let fields: Vec<String> = header
                .iter()
                .zip(l.split(','))
                .map(|(h, v)| match *h {
                    "age" | "visits" => format!("\"{h}\": {v}"),
                    "weekend" => format!("\"{h}\": {}", v.to_ascii_lowercase()),
                    _ => format!("\"{h}\": \"{v}\""),
                })
                .collect();
            format!("{{{}}}", fields.join(", "))
        })
        .collect()
}

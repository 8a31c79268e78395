//! The real binary in a pseudo-terminal: its screen read back through a
//! vt100 parser, keys sent as bytes. Every wait is on a screen condition
//! with a deadline, woken as soon as new output has been parsed, so a wait
//! also measures how long the screen took to show something (to well under
//! a millisecond; the benchmarks use that).

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

/// How long any one screen condition may take to appear.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Counts the terminal bells (BEL) the program rang.
#[derive(Default)]
pub struct Bells(usize);

impl vt100::Callbacks for Bells {
    fn audible_bell(&mut self, _: &mut vt100::Screen) {
        self.0 += 1;
    }
}

/// The screen, and a signal for each chunk of output parsed into it.
struct Screen {
    parser: Mutex<vt100::Parser<Bells>>,
    changed: Condvar,
}

/// The binary running in a pseudo-terminal, and what its screen shows.
pub struct Tui {
    child: Box<dyn Child + Send + Sync>,
    master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    screen: Arc<Screen>,
    reader: Option<JoinHandle<()>>,
    /// How long a wait may take before it fails.
    pub deadline: Duration,
}

impl Tui {
    /// `runsheet ARGS` in `dir`, on a terminal of `cols` x `rows`.
    pub fn spawn(args: &[&str], dir: &Path, cols: u16, rows: u16) -> Tui {
        let pty = native_pty_system();
        let pair = pty
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_runsheet"));
        cmd.args(args);
        cmd.cwd(dir);
        cmd.env("TERM", "xterm-256color");
        cmd.env("RUNSHEET_OPERATOR", "tester");
        cmd.env_remove("RUNSHEET_STATE_DIR");
        cmd.env_remove("NO_COLOR");
        let child = pair.slave.spawn_command(cmd).expect("spawn runsheet");
        // The child has its own handle; ours would keep the pty open after it exits.
        drop(pair.slave);
        let screen = Arc::new(Screen {
            parser: Mutex::new(vt100::Parser::new_with_callbacks(
                nz(rows),
                nz(cols),
                0,
                Bells::default(),
            )),
            changed: Condvar::new(),
        });
        let mut read = pair.master.try_clone_reader().expect("pty reader");
        let sink = Arc::clone(&screen);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 64 * 1024];
            loop {
                match read.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        sink.parser.lock().expect("parser lock").process(&buf[..n]);
                        sink.changed.notify_all();
                    }
                }
            }
        });
        let writer = pair.master.take_writer().expect("pty writer");
        Tui {
            child,
            master: pair.master,
            writer,
            screen,
            reader: Some(reader),
            deadline: DEADLINE,
        }
    }

    fn parser(&self) -> MutexGuard<'_, vt100::Parser<Bells>> {
        self.screen.parser.lock().expect("parser lock")
    }

    /// How many times the program rang the terminal's bell so far.
    pub fn bells(&self) -> usize {
        self.parser().callbacks().0
    }

    pub fn screen(&self) -> String {
        self.parser().screen().contents()
    }

    /// Wait until `cond` holds for the screen; returns how long it took.
    pub fn wait(&self, what: &str, cond: impl Fn(&vt100::Screen) -> bool) -> Duration {
        self.wait_within(self.deadline, cond).unwrap_or_else(|| {
            panic!(
                "timed out waiting for {what}; the screen shows:\n{}",
                self.screen()
            )
        })
    }

    /// Wait at most `limit` for `cond`; how long it took, or `None`.
    pub fn wait_within(&self, limit: Duration, cond: impl Fn(&vt100::Screen) -> bool) -> Option<Duration> {
        let start = Instant::now();
        let mut parser = self.parser();
        loop {
            if cond(parser.screen()) {
                return Some(start.elapsed());
            }
            let left = limit.checked_sub(start.elapsed())?;
            // Woken by new output; the timeout only bounds a missed wake-up.
            parser = self
                .screen
                .changed
                .wait_timeout(parser, left.min(Duration::from_millis(50)))
                .expect("parser lock")
                .0;
        }
    }

    pub fn wait_text(&self, text: &str) -> Duration {
        self.wait(&format!("{text:?}"), |s| s.contents().contains(text))
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to the pty");
        self.writer.flush().expect("flush the pty");
    }

    pub fn keys(&mut self, text: &str) {
        self.send(text.as_bytes());
    }

    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.parser().set_size(nz(rows), nz(cols));
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("resize the pty");
    }

    /// Hang the terminal up as the kernel does when its other end goes
    /// (a closed window, a dropped SSH connection): SIGHUP to the
    /// terminal's foreground process group. Keys sent after it go nowhere.
    pub fn hang_up(&self) {
        let group = self
            .master
            .process_group_leader()
            .expect("the pseudo-terminal has a foreground process group");
        nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(group),
            nix::sys::signal::Signal::SIGHUP,
        )
        .expect("SIGHUP the foreground process group");
    }

    /// Whether the process has not exited yet.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("wait for runsheet").is_none()
    }

    pub fn pid(&self) -> i32 {
        self.child.process_id().expect("a child pid") as i32
    }

    /// Wait for the process to exit; its exit code.
    pub fn exit_code(&mut self) -> u32 {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for runsheet") {
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                return status.exit_code();
            }
            assert!(
                start.elapsed() < self.deadline,
                "runsheet did not exit; the screen shows:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// After exit: back on the main screen, the cursor shown, raw mode off
    /// (a raw-mode terminal would not translate "\n" into a new line).
    pub fn assert_terminal_restored(&self) {
        let parser = self.parser();
        let screen = parser.screen();
        assert!(!screen.alternate_screen(), "still on the alternate screen");
        assert!(!screen.hide_cursor(), "the cursor is still hidden");
        assert_eq!(
            screen.mouse_protocol_mode(),
            vt100::MouseProtocolMode::None,
            "mouse capture still on"
        );
        assert!(!screen.bracketed_paste(), "bracketed paste still on");
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

pub fn nz(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).expect("a terminal size is not zero")
}

/// Peak resident memory of a running process, from /proc (kB).
pub fn vm_hwm_kb(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc status")
}

/// A pseudo-terminal nobody types at: a process seated at it ([`Self::seat`])
/// has it as its controlling terminal (`/dev/pts/N`), so sits at another seat
/// for the four-eyes rule, while the test keeps capturing its output.
pub struct OtherTerminal {
    _master: Box<dyn MasterPty + Send>,
    pub path: std::path::PathBuf,
}

impl OtherTerminal {
    pub fn open() -> OtherTerminal {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: 24,
                cols: 80,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let path = pair.master.tty_name().expect("the pty's terminal device");
        OtherTerminal {
            _master: pair.master,
            path,
        }
    }

    /// `cmd` seated at this terminal: in a session of its own whose
    /// controlling terminal it is, and with it as standard input (the seat
    /// is the controlling terminal, not whatever stdin is).
    pub fn seat<'a>(&self, cmd: &'a mut std::process::Command) -> &'a mut std::process::Command {
        use std::os::unix::process::CommandExt;
        let tty = std::fs::File::options()
            .read(true)
            .write(true)
            .open(&self.path)
            .expect("open the pty's terminal device");
        cmd.stdin(tty);
        let device = std::ffi::CString::new(self.path.as_os_str().as_encoded_bytes()).expect("a device path");
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // By its path, not fd 0: a test may give the process another stdin.
                let fd = libc::open(device.as_ptr(), libc::O_RDWR);
                if libc::setsid() < 0 || fd < 0 || libc::ioctl(fd, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fd);
                Ok(())
            })
        }
    }
}

//! wharf-init: the minimal PID 1 for `init: true` containers.
//!
//! `wharf-init [--] CMD [ARGS...]` runs CMD as its only direct child, forwards
//! every signal it receives to that child, reaps every process that is
//! reparented to it, and exits with the child's exit code (128+N when the
//! child was killed by signal N), as Docker's `docker-init` (tini) does.
//!
//! It is compiled by build.rs into a static binary (glibc's libc.a) and
//! embedded in wharf, because it must run in any image, including ones with
//! no libc at all. So it depends on nothing but std and declares the few C
//! functions it needs itself; keep it small and free of allocation-heavy
//! machinery.

use std::ffi::{CString, OsString};
use std::io::Write;
use std::os::raw::{c_char, c_int, c_ulong};
use std::os::unix::ffi::OsStringExt;

type Pid = c_int;

/// glibc's `sigset_t` is 1024 bits.
#[repr(C)]
struct SigSet {
    bits: [c_ulong; 16],
}

/// Only the leading fields of `siginfo_t` are read; the rest is padding.
#[repr(C)]
struct SigInfo {
    signo: c_int,
    errno: c_int,
    code: c_int,
    _rest: [c_int; 29],
}

extern "C" {
    fn sigfillset(set: *mut SigSet) -> c_int;
    fn sigdelset(set: *mut SigSet, sig: c_int) -> c_int;
    fn sigprocmask(how: c_int, set: *const SigSet, old: *mut SigSet) -> c_int;
    fn sigwaitinfo(set: *const SigSet, info: *mut SigInfo) -> c_int;
    fn signal(sig: c_int, handler: usize) -> usize;
    fn fork() -> Pid;
    fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int;
    fn waitpid(pid: Pid, status: *mut c_int, options: c_int) -> Pid;
    fn kill(pid: Pid, sig: c_int) -> c_int;
    fn setpgid(pid: Pid, pgid: Pid) -> c_int;
    fn getpid() -> Pid;
    fn isatty(fd: c_int) -> c_int;
    fn tcsetpgrp(fd: c_int, pgrp: Pid) -> c_int;
    fn prctl(option: c_int, arg2: c_ulong, arg3: c_ulong, arg4: c_ulong, arg5: c_ulong) -> c_int;
    fn _exit(code: c_int) -> !;
    fn __errno_location() -> *mut c_int;
}

const SIG_BLOCK: c_int = 0;
const SIG_SETMASK: c_int = 2;
const SIG_DFL: usize = 0;
const SIG_IGN: usize = 1;
const SIGILL: c_int = 4;
const SIGTRAP: c_int = 5;
const SIGABRT: c_int = 6;
const SIGBUS: c_int = 7;
const SIGFPE: c_int = 8;
const SIGSEGV: c_int = 11;
const SIGPIPE: c_int = 13;
const SIGCHLD: c_int = 17;
const SIGTTIN: c_int = 21;
const SIGTTOU: c_int = 22;
const SIGSYS: c_int = 31;
const WNOHANG: c_int = 1;
const EINTR: c_int = 4;
const ECHILD: c_int = 10;
const ENOENT: c_int = 2;
const PR_SET_CHILD_SUBREAPER: c_int = 36;

fn errno() -> c_int {
    // SAFETY: glibc's errno location is always valid for the calling thread.
    unsafe { *__errno_location() }
}

fn die(msg: &str) -> ! {
    let _ = writeln!(std::io::stderr(), "wharf-init: {msg}");
    // SAFETY: plain process exit.
    unsafe { _exit(1) }
}

/// The child's exit status as a shell reports it.
fn exit_code(status: c_int) -> c_int {
    let sig = status & 0x7f;
    if sig == 0 {
        (status >> 8) & 0xff
    } else {
        128 + sig
    }
}

fn main() {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    if args.is_empty() {
        die("usage: wharf-init [--] COMMAND [ARG...]");
    }
    let mut argv_c = Vec::with_capacity(args.len());
    for a in args {
        match CString::new(a.into_vec()) {
            Ok(c) => argv_c.push(c),
            Err(_) => die("argument contains a NUL byte"),
        }
    }
    let mut argv: Vec<*const c_char> = argv_c.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());

    // SAFETY: the calls below are plain libc calls on valid local buffers;
    // the process is single-threaded, so fork is safe.
    unsafe {
        // Outside a PID namespace (e.g. `pid: host`) orphans still come to us.
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

        // An inherited SIG_IGN for SIGCHLD would make the kernel reap our
        // children itself, and we would never see the command's status.
        signal(SIGCHLD, SIG_DFL);

        // Every signal is taken synchronously with sigwaitinfo, except the
        // ones the kernel raises for our own faults, which must stay fatal.
        let mut all = SigSet { bits: [0; 16] };
        let mut old = SigSet { bits: [0; 16] };
        sigfillset(&mut all);
        for s in [SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS] {
            sigdelset(&mut all, s);
        }
        sigprocmask(SIG_BLOCK, &all, &mut old);
        // Background process groups reading/writing the tty must not stop us
        // (tcsetpgrp in the child would otherwise raise SIGTTOU).
        let old_ttin = signal(SIGTTIN, SIG_IGN);
        let old_ttou = signal(SIGTTOU, SIG_IGN);

        let child = fork();
        if child < 0 {
            die("fork failed");
        }
        if child == 0 {
            // Own process group, in the foreground of the tty if there is
            // one, so a shell child gets job control and ^C reaches it.
            setpgid(0, 0);
            if isatty(0) == 1 {
                tcsetpgrp(0, getpid());
            }
            signal(
                SIGTTIN,
                if old_ttin == SIG_IGN {
                    SIG_IGN
                } else {
                    SIG_DFL
                },
            );
            signal(
                SIGTTOU,
                if old_ttou == SIG_IGN {
                    SIG_IGN
                } else {
                    SIG_DFL
                },
            );
            // Rust's runtime ignored SIGPIPE before main; an ignored signal
            // survives exec, and the command must get the default.
            signal(SIGPIPE, SIG_DFL);
            sigprocmask(SIG_SETMASK, &old, std::ptr::null_mut());
            execvp(argv[0], argv.as_ptr());
            let e = errno();
            let name = argv_c[0].to_string_lossy();
            let _ = writeln!(
                std::io::stderr(),
                "wharf-init: exec {name}: {}",
                std::io::Error::from_raw_os_error(e)
            );
            // The shell's conventions: 127 not found, 126 found but not runnable.
            _exit(if e == ENOENT { 127 } else { 126 });
        }

        loop {
            let mut info = SigInfo {
                signo: 0,
                errno: 0,
                code: 0,
                _rest: [0; 29],
            };
            let sig = sigwaitinfo(&all, &mut info);
            if sig < 0 {
                if errno() == EINTR {
                    continue;
                }
                die("sigwaitinfo failed");
            }
            if sig != SIGCHLD {
                // The child may already be gone; then there is no one to tell.
                kill(child, sig);
                continue;
            }
            // SIGCHLD coalesces: reap everything that is ready.
            loop {
                let mut status: c_int = 0;
                let pid = waitpid(-1, &mut status, WNOHANG);
                if pid == child {
                    // Reap what else is already dead, then leave: the kernel
                    // kills the rest of the PID namespace when PID 1 exits.
                    let mut other: c_int = 0;
                    while waitpid(-1, &mut other, WNOHANG) > 0 {}
                    _exit(exit_code(status));
                }
                if pid > 0 {
                    continue;
                }
                if pid < 0 && errno() == EINTR {
                    continue;
                }
                if pid < 0 && errno() == ECHILD {
                    die("lost track of the child");
                }
                break;
            }
        }
    }
}

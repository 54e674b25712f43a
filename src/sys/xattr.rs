//! Extended attributes of an inode named by an open fd, or by a name in an
//! open directory (symlinks and device nodes cannot be opened for their
//! xattrs, so the l*xattr calls are used on those).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// An inode whose xattrs are read or written.
pub enum Node<'a> {
    Fd(BorrowedFd<'a>),
    /// `name` in directory `dir`; a symlink there is not followed.
    At(BorrowedFd<'a>, &'a [u8]),
}

fn cstring(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

impl Node<'_> {
    /// `/proc/self/fd/<dir>/<name>`: the magic link pins the directory, so
    /// no path is re-resolved, and the l*xattr calls do not follow a
    /// symlink at `name`.
    fn path(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<CString> {
        let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
        p.extend_from_slice(name);
        cstring(&p)
    }

    /// The xattr names; none where the file system has no xattrs at all.
    pub fn list(&self) -> io::Result<Vec<Vec<u8>>> {
        let mut buf = vec![0u8; 4096];
        loop {
            // SAFETY: buffers are valid for their lengths; paths NUL-terminated.
            let n = unsafe {
                match self {
                    Node::Fd(fd) => {
                        libc::flistxattr(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                    }
                    Node::At(dir, name) => libc::llistxattr(
                        Self::path(*dir, name)?.as_ptr(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                    ),
                }
            };
            if n >= 0 {
                buf.truncate(n as usize);
                break;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ERANGE) if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
                Some(libc::ENOTSUP) => return Ok(Vec::new()),
                _ => return Err(e),
            }
        }
        Ok(buf
            .split(|b| *b == 0)
            .filter(|k| !k.is_empty())
            .map(<[u8]>::to_vec)
            .collect())
    }

    pub fn get(&self, key: &[u8]) -> io::Result<Vec<u8>> {
        let key = cstring(key)?;
        let mut buf = vec![0u8; 256];
        loop {
            // SAFETY: as in list().
            let n = unsafe {
                match self {
                    Node::Fd(fd) => libc::fgetxattr(
                        fd.as_raw_fd(),
                        key.as_ptr(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                    ),
                    Node::At(dir, name) => libc::lgetxattr(
                        Self::path(*dir, name)?.as_ptr(),
                        key.as_ptr(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                    ),
                }
            };
            if n >= 0 {
                buf.truncate(n as usize);
                return Ok(buf);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ERANGE) if buf.len() < 1 << 20 => buf.resize(buf.len() * 16, 0),
                _ => return Err(e),
            }
        }
    }

    pub fn set(&self, key: &[u8], value: &[u8]) -> io::Result<()> {
        let key = cstring(key)?;
        // SAFETY: as in list(); value pointer/length from a slice.
        let r = unsafe {
            match self {
                Node::Fd(fd) => libc::fsetxattr(
                    fd.as_raw_fd(),
                    key.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                ),
                Node::At(dir, name) => libc::lsetxattr(
                    Self::path(*dir, name)?.as_ptr(),
                    key.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                ),
            }
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn set_get_list_by_fd_and_by_name_without_following_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        std::os::unix::fs::symlink("f", dir.path().join("link")).unwrap();
        let d = std::fs::File::open(dir.path()).unwrap();
        let f = std::fs::File::open(&file).unwrap();

        Node::Fd(f.as_fd()).set(b"user.a", b"1").unwrap();
        Node::At(d.as_fd(), b"f").set(b"user.b", b"22").unwrap();
        let by_name = Node::At(d.as_fd(), b"f");
        let mut keys = by_name.list().unwrap();
        keys.sort();
        assert_eq!(keys, [b"user.a".to_vec(), b"user.b".to_vec()]);
        assert_eq!(Node::Fd(f.as_fd()).get(b"user.b").unwrap(), b"22");
        // A value larger than the first buffer is read whole.
        let big = vec![7u8; 3000];
        by_name.set(b"user.big", &big).unwrap();
        assert_eq!(by_name.get(b"user.big").unwrap(), big);
        // The symlink itself, not its target: user.* cannot be set on a
        // symlink, and nothing of the target shows through it.
        let link = Node::At(d.as_fd(), b"link");
        assert!(link.set(b"user.c", b"3").is_err());
        assert!(link.list().unwrap().is_empty());
        assert_eq!(
            by_name.get(b"user.missing").unwrap_err().raw_os_error(),
            Some(libc::ENODATA)
        );
        assert!(by_name.set(b"user.\0nul", b"x").is_err());
    }
}

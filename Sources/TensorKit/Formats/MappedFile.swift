#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping of a whole file. Tensors read from the file point into it and keep it
/// alive; the mapping is released when the last reference goes.
public final class MappedFile: @unchecked Sendable {
    /// The path it was opened with (used in error messages).
    public let path: String
    /// The file's bytes.
    public let bytes: UnsafeRawBufferPointer
    /// Whether `bytes` is an `mmap` (else a heap copy).
    private let isMapped: Bool

    /// Maps `path` read-only. Throws `TensorKitError.io` naming the file when it cannot, or when it is
    /// not a regular file (see `InputFile.open`).
    public init(path: String) throws {
        self.path = path
        isMapped = true
        let (fd, size) = try InputFile.open(path)
        defer { close(fd) }
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw TensorKitError.io(file: path, reason: "cannot map \(size) bytes")
        }
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    /// A heap copy of `source` standing for the file at `path` (used in error messages only), so readers
    /// can parse bytes that never were a file; the fuzz targets use it, where the address sanitizer
    /// catches a read one byte past a heap copy but not past a mapping.
    init(path: String, copying source: UnsafeRawBufferPointer) {
        self.path = path
        isMapped = false
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: source.count, alignment: 16)
        if source.count > 0 { copy.copyMemory(from: source) }
        bytes = UnsafeRawBufferPointer(copy)
    }

    /// Tells the kernel that `range` (bytes of a mapping) is read front to back (`madvise(MADV_SEQUENTIAL)`,
    /// page-aligned outward): every page fault in it then reads ahead (`read_ahead_kb`, 8 MB here). A
    /// hint: ignored where it cannot be given.
    ///
    /// Why: a model larger than what the page cache can hold is read from the disk at every forward pass,
    /// and once enough faulted pages were evicted before their readahead was used, the kernel stops
    /// reading ahead on faults to that file (its `mmap_miss` count) for good, leaving 4 KB reads: 60–250
    /// MB/s here, on a Gemma-3-12B-shaped checkpoint (23.5 GB) on this 24 GB machine, where the same disk
    /// reads 1 GB/s with readahead. A sequential mapping keeps reading ahead whatever that count says.
    public static func adviseSequential(_ range: UnsafeRawBufferPointer) {
        guard let base = range.baseAddress, range.count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0 else { return }
        let start = Int(bitPattern: base) & ~(page - 1)
        let end = Int(bitPattern: base) + range.count
        _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, Int32(MADV_SEQUENTIAL))
    }

    deinit {
        if isMapped {
            if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
        } else {
            UnsafeMutableRawBufferPointer(mutating: bytes).deallocate()
        }
    }
}

/// Opening the files a user names (models, prompts, measurements, adapters, tokenizers, configs).
///
/// Such a path may name anything: a FIFO (whose `open(2)` blocks until a writer comes, i.e. forever), a
/// directory, a device or a socket. Only regular files are read: the path is checked with `stat(2)`
/// before it is opened, opened with `O_NONBLOCK` (so even a FIFO swapped in between cannot block), and
/// checked again with `fstat(2)` on the descriptor.
public enum InputFile {
    /// Files read whole into memory (JSON configs, tokenizer files, prompt files) larger than this are
    /// refused; tensors are memory-mapped instead and are bounded by the file size alone.
    public static let defaultMaxBytes = 256 << 20

    /// Throws `TensorKitError.io` naming `path` unless it is a regular file (symbolic links followed).
    public static func checkRegular(_ path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw TensorKitError.io(file: path, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        try checkRegular(st, path)
    }

    /// Opens a regular file read-only: its descriptor (the caller closes it) and its size in bytes.
    public static func open(_ path: String) throws -> (fd: Int32, size: Int) {
        try checkRegular(path)
        let fd = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw TensorKitError.io(file: path, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw TensorKitError.io(file: path, reason: "cannot stat")
        }
        do { try checkRegular(st, path) } catch {
            close(fd)
            throw error
        }
        return (fd, Int(st.st_size))
    }

    /// The whole content of a regular file of at most `maxBytes` bytes.
    public static func contents(_ path: String, maxBytes: Int = defaultMaxBytes) throws -> [UInt8] {
        let (fd, size) = try open(path)
        defer { close(fd) }
        guard size <= maxBytes else {
            throw TensorKitError.io(file: path, reason: "file is \(size) bytes, more than the \(maxBytes) allowed")
        }
        var out = [UInt8](repeating: 0, count: size)
        var done = 0
        try out.withUnsafeMutableBytes { buffer in
            while done < size {
                let n = Glibc.read(fd, buffer.baseAddress! + done, size - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw TensorKitError.io(file: path, reason: "read failed: \(String(cString: strerror(errno)))")
                }
                if n == 0 { break }  // the file shrank while being read
                done += n
            }
        }
        return done == size ? out : Array(out[..<done])
    }

    /// Throws unless `st` describes a regular file, saying what it is instead.
    private static func checkRegular(_ st: stat, _ path: String) throws {
        let kind: String
        switch st.st_mode & S_IFMT {
        case S_IFREG: return
        case S_IFDIR: kind = "a directory"
        case S_IFIFO: kind = "a FIFO"
        case S_IFCHR: kind = "a character device"
        case S_IFBLK: kind = "a block device"
        case S_IFSOCK: kind = "a socket"
        default: throw TensorKitError.io(file: path, reason: "not a regular file")
        }
        throw TensorKitError.io(file: path, reason: "is \(kind), not a regular file")
    }
}

/// Writes files atomically: the content goes to a temporary file beside the target, which is renamed
/// over the target only when complete, so a failed write never leaves a half-written file behind.
public enum AtomicFile {
    /// Writes `data` to `path` through a temporary file and `rename(2)`.
    public static func write(_ data: [UInt8], to path: String) throws {
        try write(to: path) { fd in
            try data.withUnsafeBytes { try writeAll(fd, $0, path: path) }
        }
    }

    /// Copies the regular file `source` (symbolic links followed, as in a Hugging Face cache snapshot) to
    /// `path`, byte for byte, through a mapping: no size limit beyond the file's, no copy in memory.
    public static func copy(_ source: String, to path: String) throws {
        let file = try MappedFile(path: source)
        try write(to: path) { fd in try writeAll(fd, file.bytes, path: path) }
    }

    /// Opens a temporary file beside `path`, lets `body` fill it, fsyncs it and renames it to `path`.
    /// On any error the temporary file is removed and the target is left untouched.
    public static func write(to path: String, _ body: (Int32) throws -> Void) throws {
        let tmp = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw TensorKitError.io(file: path, reason: "cannot create \(tmp): \(String(cString: strerror(errno)))") }
        do {
            try body(fd)
            guard fsync(fd) == 0 else { throw TensorKitError.io(file: path, reason: "fsync failed") }
            close(fd)
            guard rename(tmp, path) == 0 else {
                throw TensorKitError.io(file: path, reason: "cannot rename temporary file: \(String(cString: strerror(errno)))")
            }
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
    }

    /// Writes every byte of `buffer` to `fd`, retrying short writes.
    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw TensorKitError.io(file: path, reason: "write failed: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }
}

/// A file written through a temporary file beside its target, at any offsets and in any order:
/// `commit()` fsyncs the temporary file and renames it over `path`; without a commit (an error, or the
/// writer dropped) the temporary file is removed and the target is left untouched.
public final class AtomicFileWriter {
    public let path: String
    public let temporaryPath: String
    private var fd: Int32

    public init(path: String) throws {
        self.path = path
        temporaryPath = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else {
            throw TensorKitError.io(file: path, reason: "cannot create \(temporaryPath): \(String(cString: strerror(errno)))")
        }
    }

    /// Writes all of `buffer` at byte `offset` of the file (`pwrite`, retrying short writes).
    public func write(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws {
        guard fd >= 0 else { throw TensorKitError.io(file: path, reason: "write after commit or abort") }
        var done = 0
        while done < buffer.count {
            let n = pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw TensorKitError.io(file: path, reason: "write failed: \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    /// Flushes the temporary file to disk and renames it to `path`.
    public func commit() throws {
        guard fd >= 0 else { throw TensorKitError.io(file: path, reason: "commit after commit or abort") }
        guard fsync(fd) == 0 else {
            abort()
            throw TensorKitError.io(file: path, reason: "fsync failed: \(String(cString: strerror(errno)))")
        }
        close(fd)
        fd = -1
        guard rename(temporaryPath, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw TensorKitError.io(file: path, reason: "cannot rename temporary file: \(reason)")
        }
    }

    /// Closes and removes the temporary file (nothing after a commit).
    public func abort() {
        guard fd >= 0 else { return }
        close(fd)
        fd = -1
        unlink(temporaryPath)
    }

    deinit { abort() }
}

import Foundation
import TensorKit

/// Checks made on the paths a command will write, before it does any work.
///
/// * An output must not be an input: not the same path once symlinks, `.` and `..` are resolved, not
///   the same file by device and inode (a hard link), not inside an input directory (a Hugging Face model
///   or adapter directory), and, for an output directory, not containing an input.
/// * An output must be creatable: a file's parent is an existing directory and the path is not a
///   directory; a new directory does not exist yet and its nearest existing ancestor is a directory
///   (missing parents are created). Writing is tried there with a probe that is removed at once.
/// * Staging left next to an output by a run that was killed (`<out>.partial-<pid>` directories,
///   `<out>.tmp-<pid>-<n>` files) is removed when process `pid` is gone.
///
/// Every failure is one `AbliterationError.invalidInput` line naming the paths involved.
/// For the modules and the command of this package (`package` access), not part of the public API.
package enum OutputPaths {
    /// What is written at an output path.
    package enum Kind: Sendable {
        /// A file, replaced atomically if it exists (a measurements file, a chart).
        case file
        /// A directory that must not exist yet (a model written by `convert`, `ablate` or `run`).
        case newDirectory
    }

    /// A path the command reads, with the name the user knows it by (`--model`, `--harmful`).
    package struct Input: Sendable {
        package var label: String
        package var path: String
        package init(_ label: String, _ path: String) {
            self.label = label
            self.path = path
        }
    }

    /// Inputs from optional paths (nil ones are left out).
    package static func inputs(_ pairs: [(String, String?)]) -> [Input] {
        pairs.compactMap { label, path in path.map { Input(label, $0) } }
    }

    /// Throws unless `output` (named `label`) is a path `kind` can be written to without touching any
    /// of `inputs`.
    package static func check(_ output: String, label: String = "--output", kind: Kind, inputs: [Input]) throws {
        guard !output.isEmpty else { throw AbliterationError.invalidInput("\(label): the path is empty") }
        let shown = "\(label) \(UserText.sanitized(output, limit: 400))"
        let out = resolved(output)
        let outStat = fileStatus(output)
        for input in inputs where !input.path.isEmpty {
            let inShown = "\(UserText.sanitized(input.path, limit: 400)) (\(input.label))"
            let inp = resolved(input.path)
            let inStat = fileStatus(input.path)
            if out == inp {
                throw AbliterationError.invalidInput("\(shown) is the input \(inShown); refusing to overwrite an input")
            }
            if let o = outStat, let i = inStat, o.st_dev == i.st_dev, o.st_ino == i.st_ino {
                throw AbliterationError.invalidInput(
                    "\(shown) is a hard link to the input \(inShown); refusing to overwrite an input")
            }
            if let i = inStat, isDirectory(i), out.hasPrefix(inp == "/" ? "/" : inp + "/") {
                throw AbliterationError.invalidInput(
                    "\(shown) is inside the input directory \(inShown); write it somewhere else")
            }
            if kind == .newDirectory, inp.hasPrefix(out == "/" ? "/" : out + "/") {
                throw AbliterationError.invalidInput("\(shown) would contain the input \(inShown); write it somewhere else")
            }
        }
        try checkWritable(output, shown: shown, kind: kind, status: outStat)
    }

    static func checkWritable(_ output: String, shown: String, kind: Kind, status: stat?) throws {
        let path = UserText.sanitized(output, limit: 400)
        if let s = status {
            switch kind {
            case .newDirectory:
                throw AbliterationError.invalidInput("\(shown): already exists; choose a new output directory")
            case .file:
                if isDirectory(s) {
                    throw AbliterationError.invalidInput("\(shown) is a directory; give the path of a file to write")
                }
                guard (s.st_mode & S_IFMT) == S_IFREG else {
                    throw AbliterationError.invalidInput("\(shown) exists and is not a regular file; give a new path")
                }
            }
        } else if isSymbolicLink(output) {
            throw AbliterationError.invalidInput("\(shown) is a symbolic link to a missing file; give another path")
        }
        let parent = (absolute(output) as NSString).deletingLastPathComponent
        // A file needs its parent; a new directory is created with any missing parents.
        var ancestor = parent
        if kind == .newDirectory {
            while fileStatus(ancestor) == nil && ancestor != "/" && !ancestor.isEmpty {
                ancestor = (ancestor as NSString).deletingLastPathComponent
            }
        }
        guard let a = fileStatus(ancestor) else {
            throw AbliterationError.invalidInput("cannot create \(path): directory \(UserText.sanitized(parent, limit: 400)) does not exist")
        }
        guard isDirectory(a) else {
            throw AbliterationError.invalidInput("cannot create \(path): \(UserText.sanitized(ancestor, limit: 400)) is not a directory")
        }
        // Try it: create and remove a probe where the output will go (permissions, read-only file systems).
        let probe = (ancestor as NSString).appendingPathComponent(".abliterate-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        if kind == .newDirectory {
            guard mkdir(probe, 0o700) == 0 else {
                throw AbliterationError.invalidInput("cannot create \(path): \(String(cString: strerror(errno)))")
            }
            rmdir(probe)
        } else {
            let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            guard fd >= 0 else { throw AbliterationError.invalidInput("cannot create \(path): \(String(cString: strerror(errno)))") }
            close(fd)
            unlink(probe)
        }
    }

    // MARK: - Stale staging

    /// Removes what killed runs left next to `output`: `<output>.partial-<pid>` directories and
    /// `<output>.tmp-<pid>-<n>` files whose process no longer exists. Returns the removed paths.
    @discardableResult
    package static func removeStaleStaging(next output: String) -> [String] {
        let target = absolute(output)
        let directory = (target as NSString).deletingLastPathComponent
        let base = (target as NSString).lastPathComponent
        guard !base.isEmpty, let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var removed: [String] = []
        for name in names.sorted() {
            guard let pid = stagingProcess(name, base: base), pid != getpid(), !processExists(pid) else { continue }
            let path = (directory as NSString).appendingPathComponent(name)
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(path) }
        }
        return removed
    }

    /// The line that reports `removed` staging paths, nil when there are none.
    package static func staleStagingNote(_ removed: [String]) -> String? {
        guard !removed.isEmpty else { return nil }
        let names = removed.map { UserText.sanitized(($0 as NSString).lastPathComponent) }
        let shown = names.prefix(3).joined(separator: ", ") + (names.count > 3 ? " and \(names.count - 3) more" : "")
        return "removed \(removed.count) staging \(removed.count == 1 ? "path" : "paths") left by interrupted runs that are no longer running: \(shown)"
    }

    /// The process id in a staging name of `base`: `base.partial-<pid>` or `base.tmp-<pid>-<n>`.
    static func stagingProcess(_ name: String, base: String) -> pid_t? {
        guard name.hasPrefix(base + ".") else { return nil }
        let rest = name.dropFirst(base.count + 1)
        if rest.hasPrefix("partial-") {
            return pid_t(rest.dropFirst("partial-".count)).flatMap { $0 > 0 ? $0 : nil }
        }
        if rest.hasPrefix("tmp-") {
            let parts = rest.dropFirst("tmp-".count).split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, UInt32(parts[1]) != nil else { return nil }
            return pid_t(parts[0]).flatMap { $0 > 0 ? $0 : nil }
        }
        return nil
    }

    /// Whether a process `pid` exists (`kill(pid, 0)` fails with ESRCH only when it does not).
    static func processExists(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno != ESRCH
    }

    // MARK: - Creating directories

    /// `mkdir -p`, with a one-line error naming the path and the reason.
    package static func createDirectory(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw AbliterationError.invalidInput("cannot create \(UserText.sanitized(path, limit: 400)): \(String(cString: strerror(errno)))")
            }
        }
        guard let s = fileStatus(path), isDirectory(s) else {
            throw AbliterationError.invalidInput("cannot create \(UserText.sanitized(path, limit: 400)): \(String(cString: strerror(ENOTDIR)))")
        }
    }

    // MARK: - Paths

    /// `path` made absolute against the working directory (not otherwise normalized).
    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return FileManager.default.currentDirectoryPath + "/" + path
    }

    /// The canonical form of `path`: symlinks, `.` and `..` resolved in the longest existing prefix
    /// (`realpath`), the rest normalized textually.
    package static func resolved(_ path: String) -> String {
        var head = absolute(path)
        var tail: [String] = []
        while true {
            if let real = realpath(head, nil) {
                defer { free(real) }
                var components = String(cString: real).split(separator: "/").map(String.init)
                for c in tail.reversed() {
                    switch c {
                    case "", ".": continue
                    case "..": if !components.isEmpty { components.removeLast() }
                    default: components.append(c)
                    }
                }
                return "/" + components.joined(separator: "/")
            }
            let parent = (head as NSString).deletingLastPathComponent
            tail.append((head as NSString).lastPathComponent)
            if parent == head || parent.isEmpty { return URL(fileURLWithPath: path).standardizedFileURL.path }
            head = parent
        }
    }

    /// `stat` following symlinks, nil when the path does not exist.
    static func fileStatus(_ path: String) -> stat? {
        var s = stat()
        return stat(path, &s) == 0 ? s : nil
    }

    static func isDirectory(_ s: stat) -> Bool { (s.st_mode & S_IFMT) == S_IFDIR }

    static func isSymbolicLink(_ path: String) -> Bool {
        var s = stat()
        return lstat(path, &s) == 0 && (s.st_mode & S_IFMT) == S_IFLNK
    }
}

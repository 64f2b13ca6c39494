import LanguageModels
import TensorKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Files the readers that take a path read from: one directory per fuzzer process under `TMPDIR`,
/// overwritten on every input (the readers are given the same path each time).
public enum Scratch {
    public static let directory: String = {
        var template = Array((NSTemporaryDirectory() + "/abliterate-fuzz-XXXXXX").utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            fatalError("mkdtemp failed under \(NSTemporaryDirectory())")
        }
        return String(cString: p)
    }()

    /// A subdirectory of `directory`, made on first use.
    public static func subdirectory(_ name: String) -> String {
        let path = directory + "/" + name
        mkdir(path, 0o755)
        return path
    }

    /// Writes `bytes` to `path` (created or truncated).
    public static func write(_ bytes: UnsafeRawBufferPointer, to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { fatalError("cannot create \(path)") }
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            guard n > 0 else { fatalError("cannot write \(path)") }
            done += n
        }
        close(fd)
    }

    public static func write(_ text: String, to path: String) {
        Array(text.utf8).withUnsafeBytes { write($0, to: path) }
    }

    public static func remove(_ path: String) { unlink(path) }
}

/// What every fuzzer does with a tokenizer a reader produced: encode and decode text with special
/// tokens, Unicode and digits, decode ids in and out of range, and render a conversation through the
/// chat template (errors are fine; crashes, hangs and leaks are not).
public enum Exercise {
    public static let text = "Hello, world! 1234 <|im_start|>user\n  caf\u{E9} cafe\u{301} \u{1F600}\t<s></s>\u{2581}x"
    public static let messages = [
        ChatMessage(role: "system", content: "You are terse."),
        ChatMessage(role: "user", content: "Hi <b>there</b> {{ x }}"),
        ChatMessage(role: "assistant", content: "Hello."),
        ChatMessage(role: "user", content: "caf\u{E9} \u{1F600}"),
    ]

    public static func tokenizer(_ t: Tokenizer) {
        let ids = t.encode(text, addSpecialTokens: true)
        _ = t.decode(ids)
        _ = t.decode(ids, skipSpecialTokens: true)
        _ = t.decode(Array(-2..<min(t.vocabularySize + 2, 300)))
        _ = try? t.encodeChat(messages: messages, addGenerationPrompt: true)
        _ = try? t.renderChat(messages: Array(messages.dropFirst()), addGenerationPrompt: false)
    }
}

extension Exercise {
    /// Merges every pair of a loaded adapter into a zero weight of the shape it fits (small ones only).
    public static func adapter(_ adapter: LoRAAdapter) {
        for pair in adapter.pairs {
            let (out, inSize) = (pair.b.shape[0], pair.a.shape[1])
            guard out > 0, inSize > 0, out.multipliedReportingOverflow(by: inSize).partialValue <= 1 << 16,
                  !out.multipliedReportingOverflow(by: inSize).overflow,
                  let base = try? Tensor<Float>(shape: [out, inSize], scalars: [Float](repeating: 0, count: out * inSize))
            else { continue }
            _ = try? adapter.merged(pair, base: base)
        }
    }
}

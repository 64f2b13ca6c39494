/// Finds added tokens (special and user-defined) in raw text before any splitting, leftmost-longest,
/// as Hugging Face's added vocabulary and llama.cpp's special-token partition do.
struct AddedTokenMatcher: Sendable {
    /// A trie over UTF-8 bytes; `nodes[i]` holds its children and the token ending there (or -1).
    private var children: [[(UInt8, Int32)]] = [[]]
    private var terminal: [Int32] = [-1]
    private var startsToken = [Bool](repeating: false, count: 256)

    var isEmpty: Bool { terminal.count == 1 }

    init() {}

    mutating func insert(_ content: String, id: Int) {
        let bytes = Array(content.utf8)
        guard let first = bytes.first else { return }
        startsToken[Int(first)] = true
        var node = 0
        for b in bytes {
            if let child = children[node].first(where: { $0.0 == b })?.1 {
                node = Int(child)
            } else {
                children.append([])
                terminal.append(-1)
                let child = Int32(children.count - 1)
                children[node].append((b, child))
                node = Int(child)
            }
        }
        if terminal[node] < 0 { terminal[node] = Int32(id) }
    }

    /// The longest token starting at `i`: (id, length in bytes).
    @inline(__always) private func longest(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> (Int, Int)? {
        var node = 0, j = i
        var best: (Int, Int)?
        while j < bytes.count {
            guard let child = children[node].first(where: { $0.0 == bytes[j] })?.1 else { break }
            node = Int(child)
            j += 1
            if terminal[node] >= 0 { best = (Int(terminal[node]), j - i) }
        }
        return best
    }

    enum Segment: Equatable {
        case text(Range<Int>)   // byte range of plain text
        case token(Int)
    }

    /// Splits UTF-8 bytes into plain text ranges and added tokens.
    func segments(_ bytes: UnsafeBufferPointer<UInt8>) -> [Segment] {
        var out: [Segment] = []
        var start = 0, i = 0
        while i < bytes.count {
            if startsToken[Int(bytes[i])], let (id, len) = longest(bytes, at: i) {
                if start < i { out.append(.text(start..<i)) }
                out.append(.token(id))
                i += len
                start = i
            } else {
                i += 1
            }
        }
        if start < bytes.count { out.append(.text(start..<bytes.count)) }
        return out
    }
}

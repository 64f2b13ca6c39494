/// The character classes GPT-2's split regex distinguishes.
enum ScalarClass: UInt8 {
    case letter, number, whitespace, other
}

extension ScalarClass {
    /// `\p{L}`, `\p{N}` (Nd, Nl, No), `\s` (Unicode White_Space), or anything else.
    @inline(__always)
    static func of(_ s: Unicode.Scalar) -> ScalarClass {
        let v = s.value
        if v < 128 { return asciiTable[Int(v)] }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return s.properties.isWhitespace ? .whitespace : .other
        }
    }

    private static let asciiTable: [ScalarClass] = (0..<128).map { v -> ScalarClass in
        switch v {
        case 0x41...0x5A, 0x61...0x7A: return .letter
        case 0x30...0x39: return .number
        case 0x09...0x0D, 0x20: return .whitespace
        default: return .other
        }
    }
}

/// Cuts text into the words BPE runs on, as half-open ranges of scalar indices.
enum PreTokenizer {
    /// Word ranges of `scalars` under `kind`.
    static func split(_ scalars: [Unicode.Scalar], kind: PreTokenization) -> [Range<Int>] {
        let classes = scalars.map(ScalarClass.of)
        var words: [Range<Int>] = []
        words.reserveCapacity(scalars.count / 3 + 1)
        switch kind {
        case .none:
            if !scalars.isEmpty { words.append(0..<scalars.count) }
        case .gpt2:
            gpt2(scalars, classes, 0..<scalars.count, into: &words)
        case .gpt2IndividualDigits:
            var start = 0
            for i in 0..<scalars.count where classes[i] == .number {
                if start < i { gpt2(scalars, classes, start..<i, into: &words) }
                words.append(i..<(i + 1))
                start = i + 1
            }
            if start < scalars.count { gpt2(scalars, classes, start..<scalars.count, into: &words) }
        }
        return words
    }

    /// GPT-2's regex `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    /// applied left to right over `range` (the end of the range is the end of the text).
    static func gpt2(_ s: [Unicode.Scalar], _ c: [ScalarClass], _ range: Range<Int>, into words: inout [Range<Int>]) {
        let end = range.upperBound
        var i = range.lowerBound
        func run(from j: Int, _ cls: ScalarClass) -> Int {
            var k = j
            while k < end && c[k] == cls { k += 1 }
            return k
        }
        func runOther(from j: Int) -> Int {
            var k = j
            while k < end && c[k] == .other { k += 1 }
            return k
        }
        while i < end {
            // 's 't 're 've 'm 'll 'd
            if s[i] == "'" && i + 1 < end {
                let a = s[i + 1]
                if a == "s" || a == "t" || a == "m" || a == "d" { words.append(i..<(i + 2)); i += 2; continue }
                if i + 2 < end {
                    let b = s[i + 2]
                    if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") {
                        words.append(i..<(i + 3)); i += 3; continue
                    }
                }
            }
            // An optional single space, then a run of one class.
            var j = i
            if s[i] == " " && i + 1 < end && c[i + 1] != .whitespace { j = i + 1 }
            switch c[j] {
            case .letter: let k = run(from: j, .letter); words.append(i..<k); i = k; continue
            case .number: let k = run(from: j, .number); words.append(i..<k); i = k; continue
            case .other: let k = runOther(from: j); words.append(i..<k); i = k; continue
            case .whitespace: break
            }
            // \s+(?!\S) then \s+
            let k = run(from: i, .whitespace)
            if k == end || k - i == 1 {
                words.append(i..<k); i = k
            } else {
                words.append(i..<(k - 1)); i = k - 1
            }
        }
    }
}

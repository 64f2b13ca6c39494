/// GPT-2's byte-to-character table: each byte 0...255 is spelled as one printable Unicode scalar.
///
/// Bytes that are printable Latin-1 (`!`...`~`, `¡`...`¬`, `®`...`ÿ`) stand for themselves; the other 68
/// bytes are mapped, in increasing order, to U+0100, U+0101, ... (so a space 0x20 is `Ġ` U+0120).
public enum ByteLevelAlphabet {
    /// `scalar[b]`: the character spelling byte `b`.
    public static let scalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte a character spells, or nil for a character outside the alphabet.
    public static func byte(of scalar: Unicode.Scalar) -> UInt8? { byteOf[scalar.value] }

    private static let byteOf: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, s) in scalar.enumerated() { map[s.value] = UInt8(b) }
        return map
    }()

    /// Spell raw bytes in the alphabet.
    public static func spell<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out = String.UnicodeScalarView()
        for b in bytes { out.append(scalar[Int(b)]) }
        return String(out)
    }

    /// The bytes a spelled token stands for; characters outside the alphabet are kept as their UTF-8.
    public static func bytes(of token: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for s in token.unicodeScalars {
            if let b = byteOf[s.value] { out.append(b) } else { out.append(contentsOf: String(s).utf8) }
        }
        return out
    }
}

/// One token inside `{{ }}` or `{% %}`.
enum JinjaToken: Equatable {
    case name(String)
    case string(String)
    case int(Int)
    case double(Double)
    case op(String)
}

/// The template cut into text and tags, with Jinja's whitespace control already applied:
/// `{%-`/`-%}` (and `{{-`, `{#-`...) strip whitespace on that side; as in Hugging Face's environment,
/// `trim_blocks` drops the first newline after a block or comment tag and `lstrip_blocks` drops the
/// spaces and tabs between a line start and a block or comment tag (`{%+` keeps them).
enum JinjaPart {
    case text(String)
    case output([JinjaToken], line: Int)
    case statement([JinjaToken], line: Int)
}

enum JinjaLexer {
    private enum Raw {
        case text([Character])
        case tag(kind: Character, tokens: [JinjaToken], line: Int, stripBefore: Bool, keepBefore: Bool, stripAfter: Bool)
    }

    static func lex(_ source: String) throws -> [JinjaPart] {
        let s = Array(source)
        var raws: [Raw] = []
        var text: [Character] = []
        var i = 0, line = 1
        while i < s.count {
            if s[i] == "{", i + 1 < s.count, s[i + 1] == "{" || s[i + 1] == "%" || s[i + 1] == "#" {
                let kind = s[i + 1]
                let tagLine = line
                raws.append(.text(text)); text = []
                i += 2
                var stripBefore = false, keepBefore = false
                if i < s.count, s[i] == "-" { stripBefore = true; i += 1 } else if i < s.count, s[i] == "+" { keepBefore = true; i += 1 }
                var tokens: [JinjaToken] = []
                var stripAfter = false
                let closer: Character = kind == "{" ? "}" : (kind == "%" ? "%" : "#")
                if kind == "#" {
                    while true {
                        guard i + 1 < s.count else { throw syntax("unclosed comment", tagLine) }
                        if s[i] == "#" && s[i + 1] == "}" { stripAfter = i > 0 && s[i - 1] == "-"; i += 2; break }
                        if s[i] == "\n" { line += 1 }
                        i += 1
                    }
                } else {
                    while true {
                        while i < s.count, s[i].isWhitespace { if s[i] == "\n" { line += 1 }; i += 1 }
                        guard i < s.count else { throw syntax("unclosed tag", tagLine) }
                        if s[i] == "-", i + 2 < s.count, s[i + 1] == closer, s[i + 2] == "}" { stripAfter = true; i += 3; break }
                        if s[i] == closer, i + 1 < s.count, s[i + 1] == "}" { i += 2; break }
                        tokens.append(try token(s, &i, tagLine))
                    }
                }
                raws.append(.tag(kind: kind, tokens: tokens, line: tagLine, stripBefore: stripBefore,
                                 keepBefore: keepBefore, stripAfter: stripAfter))
            } else {
                if s[i] == "\n" { line += 1 }
                text.append(s[i]); i += 1
            }
        }
        raws.append(.text(text))

        // Whitespace control on each text from the tags around it.
        var parts: [JinjaPart] = []
        for (k, raw) in raws.enumerated() {
            switch raw {
            case .text(let t):
                var front = 0, back = t.count
                if k + 1 < raws.count, case let .tag(kind, _, _, stripBefore, keepBefore, _) = raws[k + 1] {
                    if stripBefore {
                        while back > 0, t[back - 1].isWhitespace { back -= 1 }
                    } else if kind != "{" && !keepBefore {
                        // lstrip_blocks: only when the tag is the first thing on its line
                        var j = back
                        while j > 0, t[j - 1] == " " || t[j - 1] == "\t" { j -= 1 }
                        let lineStart = j == 0 ? k == 0 : (t[j - 1] == "\n" || t[j - 1] == "\r\n")
                        if lineStart { back = j }
                    }
                }
                if k > 0, case let .tag(kind, _, _, _, _, stripAfter) = raws[k - 1] {
                    if stripAfter {
                        while front < t.count, t[front].isWhitespace { front += 1 }
                    } else if kind != "{", let f = t.first, f == "\n" || f == "\r\n" {
                        front = 1   // trim_blocks
                    }
                }
                let kept = front < back ? Array(t[front..<back]) : []
                if !kept.isEmpty { parts.append(.text(String(kept))) }
            case let .tag(kind, tokens, line, _, _, _):
                if kind == "{" { parts.append(.output(tokens, line: line)) }
                else if kind == "%" { parts.append(.statement(tokens, line: line)) }
            }
        }
        return parts
    }

    static func syntax(_ message: String, _ line: Int) -> JinjaError {
        .invalidInput("chat template: \(message) (line \(line))")
    }

    private static func token(_ s: [Character], _ i: inout Int, _ line: Int) throws -> JinjaToken {
        let c = s[i]
        if c.isLetter || c == "_" {
            var name = ""
            while i < s.count, s[i].isLetter || s[i].isNumber || s[i] == "_" { name.append(s[i]); i += 1 }
            return .name(name)
        }
        if c.isASCII && c.isNumber {
            var num = ""
            var isDouble = false
            while i < s.count, (s[i].isASCII && s[i].isNumber) || s[i] == "_" || (s[i] == "." && !isDouble && i + 1 < s.count && s[i + 1].isNumber) {
                if s[i] == "." { isDouble = true }
                if s[i] != "_" { num.append(s[i]) }
                i += 1
            }
            if isDouble, let d = Double(num) { return .double(d) }
            if let n = Int(num) { return .int(n) }
            if !isDouble, !num.isEmpty { throw syntax("integer out of range: \(num.prefix(40)) does not fit in 64 bits", line) }
            throw syntax("bad number '\(num)'", line)
        }
        if c == "'" || c == "\"" {
            var out = ""
            i += 1
            while true {
                guard i < s.count else { throw syntax("unterminated string", line) }
                let ch = s[i]
                if ch == c { i += 1; break }
                if ch == "\\", i + 1 < s.count {
                    i += 1
                    switch s[i] {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    case "r": out.append("\r")
                    case "\\": out.append("\\")
                    case "'": out.append("'")
                    case "\"": out.append("\"")
                    default: out.append("\\"); out.append(s[i])
                    }
                    i += 1
                    continue
                }
                out.append(ch); i += 1
            }
            return .string(out)
        }
        for op in ["//", "**", "==", "!=", "<=", ">="] {
            let chars = Array(op)
            if i + 1 < s.count, s[i] == chars[0], s[i + 1] == chars[1] { i += 2; return .op(op) }
        }
        if "+-*/%~<>()[]{}.,:|=".contains(c) { i += 1; return .op(String(c)) }
        throw syntax("unexpected character '\(c)'", line)
    }
}

/// Bounds on what one chat template may do. A model file carries its template, so the template is
/// hostile input: each bound turns what would be a stack overflow, a trap, a hang or an exhausted
/// memory into one `JinjaError` (`chat template: ...`) that names the bound. Real templates
/// (ChatML, Llama, Gemma, Qwen, SmolLM...) stay far below every one of them.
enum JinjaLimits {
    /// Nesting of one expression: parentheses, brackets, braces, `not`, unary signs, call and filter
    /// arguments, and each link of an operator, filter, attribute or subscript chain (`a + b + c`,
    /// `x|f|g`, `a.b.c`). The parsed tree is at most about twice this deep, so evaluating it cannot
    /// overflow the stack.
    static let expressionDepth = 128

    /// Nesting of `{% if %}`, `{% for %}` and `{% set %}...{% endset %}` blocks.
    static let blockDepth = 64

    /// Nesting of lists, dicts and namespaces inside a value: checked when a value is stored by
    /// `{% set %}`, and by `tojson`, printing and comparison, which walk values.
    static let valueDepth = 64

    /// Largest string, in UTF-8 bytes: the rendered text, a `{% set %}` block's capture and any string
    /// an expression builds (`~`, `+`, `*`, `join`, `replace`, `tojson`...). Checked before a string grows
    /// past it, so repetition such as `'a' * 10**12` fails without allocating.
    static let stringBytes = 16 << 20

    /// Total UTF-8 bytes of text one render builds or scans (output, concatenations, filter results,
    /// `length`, `in`, `split`, slicing...), so a loop cannot spend minutes on strings that each stay
    /// under `stringBytes`.
    static let textBytes = 128 << 20

    /// Most items in one list: `range()`, `|list`, `split`, a loop over a string, list `+`.
    static let listItems = 100_000

    /// Units of work in one render: one per expression evaluated, loop iteration, list item produced
    /// and value visited by a comparison, a nesting check or `tojson`. Ends loops that print nothing,
    /// such as two nested `{% for i in range(10**5) %}`. A template spends some tens of steps per message.
    static let steps = 500_000

    /// Largest width a filter pads with: `tojson(indent=...)`, `indent(width)`.
    static let filterWidth = 64

    /// `stringBytes` for messages.
    static var stringSize: String { "\(stringBytes >> 20) MiB" }
}

/// What one render has spent against `JinjaLimits.steps` and `JinjaLimits.textBytes`, with the line
/// of the tag being run so that errors name it.
struct JinjaBudget {
    /// The line of the tag being run; 0 before the first.
    var line = 0
    private(set) var steps = 0
    private(set) var textBytes = 0

    /// An error about the tag being run.
    func error(_ message: String) -> JinjaError {
        .invalidInput("chat template: \(message)" + (line > 0 ? " (line \(line))" : ""))
    }

    /// Spends `count` units of work.
    mutating func step(_ count: Int = 1) throws {
        steps += min(count, JinjaLimits.steps + 1)
        if steps > JinjaLimits.steps {
            throw error("evaluation exceeds the step limit of \(JinjaLimits.steps) steps (a loop or expression runs too long)")
        }
    }

    /// Spends `count` bytes of text built or scanned.
    mutating func text(_ count: Int) throws {
        textBytes += min(count, JinjaLimits.textBytes + 1)
        if textBytes > JinjaLimits.textBytes {
            throw error("the template builds or scans more than the text limit of \(JinjaLimits.textBytes >> 20) MiB")
        }
    }

    /// Throws unless a string of `count` UTF-8 bytes fits `JinjaLimits.stringBytes`; called before
    /// building one whose size is known, so that an oversized one is never allocated.
    func fits(_ count: Int) throws {
        guard count <= JinjaLimits.stringBytes else {
            throw error("a string of \(count) bytes exceeds the output-size limit of \(JinjaLimits.stringSize)")
        }
    }

    /// Checks and charges a string just built.
    mutating func built(_ s: String) throws {
        try fits(s.utf8.count)
        try text(s.utf8.count)
    }

    /// Appends `piece` to `out` when the result stays within `JinjaLimits.stringBytes` (charging it
    /// is the caller's: the finished string is charged once).
    func append(_ piece: String, to out: inout String) throws {
        let total = out.utf8.count + piece.utf8.count
        guard total <= JinjaLimits.stringBytes else {
            throw error("the text grows past the output-size limit of \(JinjaLimits.stringSize)")
        }
        out += piece
    }

    /// Checks that a list of `count` items may be built, and charges one step per item.
    mutating func list(_ count: Int) throws {
        guard count <= JinjaLimits.listItems else {
            throw error("a list of \(count) items exceeds the limit of \(JinjaLimits.listItems) items")
        }
        try step(count)
    }

    /// An error for a value nested past `JinjaLimits.valueDepth`.
    func tooDeep() -> JinjaError {
        error("value nested deeper than the nesting-depth limit of \(JinjaLimits.valueDepth) levels")
    }

    /// An error for an integer result outside 64 bits.
    func outOfRange(_ what: String) -> JinjaError {
        error("integer out of range: \(what) does not fit in 64 bits")
    }
}

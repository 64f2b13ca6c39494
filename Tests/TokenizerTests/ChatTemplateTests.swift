import XCTest
import TestSupport
@testable import LanguageModels
import Jinja

/// The Jinja interpreter, construct by construct. Expected strings were produced by jinja2 3.1 with
/// Hugging Face's settings (`trim_blocks`, `lstrip_blocks`, `tojson` as `json.dumps(ensure_ascii=False)`).
final class ChatTemplateTests: XCTestCase {
    private let messages = [
        ChatMessage(role: "system", content: "  Be brief. "),
        ChatMessage(role: "user", content: "Hi \"there\""),
        ChatMessage(role: "assistant", content: "Hello!"),
    ]

    private func render(_ source: String) throws -> String {
        try ChatTemplate(source: source, bosToken: "<s>", eosToken: "</s>").render(messages: messages, addGenerationPrompt: true)
    }

    func testForLoopVariablesAndIfElifElse() throws {
        XCTAssertEqual(try render("{% for m in messages %}{{ loop.index }}/{{ loop.length }}:{{ m['role'] }}{% if loop.first %}(first){% elif loop.last %}(last){% else %}(mid){% endif %};{% endfor %}"),
                       "1/3:system(first);2/3:user(mid);3/3:assistant(last);")
    }

    func testSetConcatenationSlicingLength() throws {
        XCTAssertEqual(try render("{% set x = 'ab' ~ 'cd' %}{{ x[1:3] }}|{{ x[::-1] }}|{{ x[-1] }}|{{ (x + 'e')|length }}"), "bc|dcba|d|5")
    }

    func testTrimAndToJSON() throws {
        XCTAssertEqual(try render("{% for m in messages %}{{ m.content|trim }}|{% endfor %}"), "Be brief.|Hi \"there\"|Hello!|")
        XCTAssertEqual(try render("{{ messages[1]|tojson }}"), #"{"role": "user", "content": "Hi \"there\""}"#)
    }

    func testComparisonsInAndArithmetic() throws {
        XCTAssertEqual(try render("{{ 'user' in ['user', 'x'] }} {{ 'ell' in 'hello' }} {{ 3 > 2 and not 1 == 2 }} {{ 7 // 2 }} {{ 7 % 3 }}"),
                       "True True True 3 1")
    }

    func testNamespaceSurvivesLoopScope() throws {
        XCTAssertEqual(try render("{% set ns = namespace(found=false) %}{% for m in messages %}{% if m.role == 'assistant' %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.found }}"), "True")
        // a plain set inside a loop is not seen after it
        XCTAssertEqual(try render("{% set n = 0 %}{% for m in messages %}{% set n = n + 1 %}{% endfor %}{{ n }}"), "0")
    }

    func testLoopFilter() throws {
        XCTAssertEqual(try render("{% for m in messages if m.role != 'system' %}{{ m.role }}{% if not loop.last %},{% endif %}{% endfor %}"), "user,assistant")
    }

    func testTrimBlocksAndLstripBlocks() throws {
        XCTAssertEqual(try render("A\n  {% if true %}\n    B\n  {% endif %}\nC"), "A\n    B\nC")
    }

    func testWhitespaceControlMarkers() throws {
        XCTAssertEqual(try render("A  {%- if true -%}  B  {%- endif -%}  C {{- ' D ' -}} E"), "ABC D E")
    }

    func testMethodsTestsAndConditionals() throws {
        XCTAssertEqual(try render("{{ messages[0]['content'].strip() }}|{{ 'a,b'.split(',')|join('+') }}|{{ 'Hi'.upper() }}|{{ none is none }}|{{ foo is defined }}|{{ messages[0].role is string }}"),
                       "Be brief.|a+b|HI|True|False|True")
        XCTAssertEqual(try render("{{ 'x' if false else 'y' }}{{ messages|length }}{% for i in range(3) %}{{ i }}{% endfor %}"), "y3012")
        XCTAssertEqual(try render("{%- if messages[0]['role'] == 'system' -%}{%- set sys = messages[0]['content'] -%}{%- set rest = messages[1:] -%}{%- else -%}{%- set sys = '' -%}{%- endif -%}[{{ sys }}]{{ rest|length }}"),
                       "[  Be brief. ]2")
    }

    func testSpecialTokenVariables() throws {
        XCTAssertEqual(try render("{{ bos_token }}{% if add_generation_prompt %}{{ eos_token }}{% endif %}"), "<s></s>")
    }

    func testRaiseExceptionCarriesTheMessage() {
        XCTAssertThrowsError(try render("{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}")) { error in
            XCTAssertTrue("\(error)".contains("System role not supported"), "\(error)")
        }
    }

    func testUnsupportedConstructsAreNamed() {
        let cases = [
            ("{% macro f() %}x{% endmacro %}", "macro"),
            ("{{ messages|dictsort }}", "dictsort"),
            ("{% include 'x' %}", "include"),
            ("{{ strftime_now('%Y') }}", "strftime_now"),
            ("{% if x is callable %}{% endif %}", "callable"),
        ]
        for (source, construct) in cases {
            XCTAssertThrowsError(try render(source), source) { error in
                guard case JinjaError.unsupported(let message) = error else { return XCTFail("\(source): \(error)") }
                XCTAssertTrue(message.contains(construct), "\(source): \(message)")
            }
        }
    }

    /// An unknown filter or test does not stop a template from loading (a model's template may use one in a
    /// branch chat rendering never takes, such as tool calls); rendering it fails, naming it, its line and
    /// the supported ones. A filter or test named by a string (`map`, `selectattr`) is looked up when it runs.
    func testUnknownFiltersAndTestsFailWhenRendered() throws {
        let untaken = try ChatTemplate(source: "{% if false %}\n{{ x|dictsort }}{% endif %}ok")
        XCTAssertEqual(try untaken.render(messages: messages, addGenerationPrompt: false), "ok")
        XCTAssertThrowsError(try render("{% if true %}\n{{ x|dictsort }}{% endif %}")) { error in
            XCTAssertEqual("\(error)", "chat template: unsupported filter '|dictsort' (line 2); supported: "
                + "trim, length, count, tojson, upper, lower, capitalize, title, default, d, first, last, join, replace, "
                + "string, int, float, list, items, reverse, safe, abs, selectattr, rejectattr, map, unique, wordcount, indent, sort")
        }
        XCTAssertThrowsError(try render("{% if x is callable %}{% endif %}")) { error in
            XCTAssertTrue("\(error)".hasPrefix("chat template: unsupported test 'is callable' (line 1); supported: defined, "), "\(error)")
        }
        XCTAssertEqual(try render("{{ ['a', 'b']|map('upper')|join }}|{{ []|map('nope')|list }}|{{ messages|selectattr('role', '==', 'user')|length }}"),
                       "AB|[]|1")
        XCTAssertThrowsError(try render("{{ ['a']|map('nope')|list }}")) { error in
            XCTAssertTrue("\(error)".hasPrefix("chat template: unsupported filter '|nope'; supported: trim, length, count, tojson,"), "\(error)")
        }
    }

    func testSyntaxErrorsAreErrorsNotCrashes() {
        for source in ["{% if true %}x", "{{ 'unterminated }}", "{% for in x %}{% endfor %}", "{{ (1 + }}", "{% endif %}", "{{ a[ }}"] {
            XCTAssertThrowsError(try ChatTemplate(source: source), source)
        }
    }

    func testGemmaStandardFormat() throws {
        let t = try ChatTemplate(source: ChatTemplate.standardFormat(family: "gemma3", model: .sentencePieceBPE), bosToken: "<bos>")
        XCTAssertEqual(try t.render(messages: messages, addGenerationPrompt: true),
                       "<bos><start_of_turn>user\n  Be brief. \n\nHi \"there\"<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>model\n")
    }

    func testChatMLStandardFormat() throws {
        let t = try ChatTemplate(source: ChatTemplate.standardFormat(family: "llama", model: .byteLevelBPE))
        XCTAssertEqual(try t.render(messages: [ChatMessage(role: "user", content: "hi")], addGenerationPrompt: true),
                       "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    }

    /// Gemma's template writes `<bos>` itself: the chat ids hold exactly one BOS, and adding special
    /// tokens to text that already starts with BOS does not add a second.
    func testNoDoubledBOS() throws {
        let tokenizer = try Tokenizer.load(ggufPath: try TestModels.gemma3())
        XCTAssertNil(tokenizer.vocabulary.chatTemplate)
        let ids = try tokenizer.encodeChat(messages: [ChatMessage(role: "user", content: "Hello")], addGenerationPrompt: true)
        XCTAssertEqual(ids.first, 2)
        XCTAssertEqual(ids.filter { $0 == 2 }.count, 1)
        XCTAssertEqual(Array(ids.prefix(3)), [2, 105, 2364])   // <bos> <start_of_turn> user
        XCTAssertEqual(tokenizer.encode("<bos>Hello", addSpecialTokens: true), [2, 9259])
        XCTAssertEqual(tokenizer.encode("Hello", addSpecialTokens: true), [2, 9259])
        XCTAssertEqual(tokenizer.encode("Hello"), [9259])
    }
}

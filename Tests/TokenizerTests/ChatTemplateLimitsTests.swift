import XCTest
import Foundation
@testable import LanguageModels
import Jinja

/// A chat template comes from a model file, so it is hostile input: each template here used to crash
/// (stack overflow, trap, a terabyte allocation), hang, or print a wrapped number. Each must now end,
/// quickly, in one `JinjaError` whose message names the `JinjaLimits` bound it hit.
final class ChatTemplateLimitsTests: XCTestCase {
    private let messages = [ChatMessage(role: "user", content: "Hi")]

    private func render(_ source: String) throws -> String {
        try ChatTemplate(source: source).render(messages: messages, addGenerationPrompt: true)
    }

    /// Asserts that parsing or rendering `source` throws an `JinjaError` whose message starts
    /// with `chat template:` and contains each of `phrases`, within `seconds`.
    private func assertLimit(_ source: String, _ phrases: String..., seconds: Double = 3,
                             file: StaticString = #filePath, line: UInt = #line) {
        let start = Date()
        XCTAssertThrowsError(try render(source), file: file, line: line) { error in
            guard let error = error as? JinjaError else {
                return XCTFail("not an JinjaError: \(error)", file: file, line: line)
            }
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix("chat template:"), message, file: file, line: line)
            for phrase in phrases {
                XCTAssertTrue(message.contains(phrase), "'\(phrase)' not in: \(message)", file: file, line: line)
            }
        }
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertLessThan(elapsed, seconds, "took \(elapsed) s", file: file, line: line)
    }

    // MARK: - Strings with NUL characters

    /// Foundation's string search skips NUL characters: `replace` trapped (libFuzzer's chat_template
    /// target found it), `split` and `find` read ranges past the end, `in` said yes. Matching is now byte
    /// for byte, as Python's code-point matching.
    func testNULCharactersAreMatchedExactly() throws {
        let nuls = String(repeating: "\u{0}", count: 100)
        XCTAssertEqual(try render("{{ 'a b' | replace('b\(nuls)', 'c') }}"), "a b")
        XCTAssertEqual(try render("{{ 'a b'.replace('b\(nuls)', 'c') }}|{{ 'a\u{0}b'.replace('\u{0}', '-') }}"), "a b|a-b")
        XCTAssertEqual(try render("{{ 'a b'.split('b\(nuls)') | length }} {{ 'x\u{0}y'.split('\u{0}') | join('+') }}"), "1 x+y")
        XCTAssertEqual(try render("{{ 'a b'.find('b\(nuls)') }} {{ 'é\u{0}b'.find('b') }} {{ 'ab'.find('') }}"), "-1 2 0")
        XCTAssertEqual(try render("{{ 'b\(nuls)' in 'a b' }} {{ '\u{0}' in 'a\u{0}' }} {{ '' in 'a' }}"), "False True True")
    }

    // MARK: - Integers

    func testIntMinModuloMinusOneIsZeroAndFloorDivisionIsOutOfRange() throws {
        // Python: (-2**63) % -1 == 0, which fits; (-2**63) // -1 == 2**63, which does not
        XCTAssertEqual(try render("{{ (-9223372036854775807 - 1) % -1 }}"), "0")
        assertLimit("{{ (-9223372036854775807 - 1) // -1 }}", "integer out of range", "line 1")
    }

    func testAdditionOverflowIsAnError() {
        assertLimit("{{ 9223372036854775807 + 1 }}", "integer out of range")
        assertLimit("{{ -9223372036854775807 - 2 }}", "integer out of range")
        assertLimit("{{ 4611686018427387904 * 2 }}", "integer out of range")
    }

    func testPowerOverflowIsAnError() {
        assertLimit("{{ 2 ** 64 }}", "integer out of range")
        assertLimit("{{ 2 ** 63 }}", "integer out of range")
        assertLimit("{{ 10 ** 1000000000000 }}", "integer out of range")
    }

    func testUnaryMinusOfIntMinIsAnError() {
        assertLimit("{% set m = -9223372036854775807 - 1 %}{{ -m }}", "integer out of range", "line 1")
    }

    func testIntFilterOfHugeFloatIsAnError() throws {
        assertLimit("{{ ('1e300'|float)|int }}", "integer out of range")
        assertLimit("{{ ('inf'|float)|int }}", "integer out of range")
        assertLimit("{{ '99999999999999999999'|int }}", "integer out of range")
        // Jinja's int filter falls back to its default, 0, for NaN
        XCTAssertEqual(try render("{{ ('nan'|float)|int }}"), "0")
        XCTAssertEqual(try render("{{ '3.7'|int }} {{ 3.7|int }} {{ -3.7|int }}"), "3 3 -3")
    }

    func testAbsOfIntMinIsAnError() {
        assertLimit("{{ (-9223372036854775807 - 1)|abs }}", "integer out of range")
    }

    func testIntegerLiteralOutOfRangeIsAnError() {
        assertLimit("{{ 9223372036854775808 }}", "integer out of range", "line 1")
    }

    func testHugeRangeIsAnError() {
        assertLimit("{{ range(9223372036854775807)|length }}", "range()", "limit of 100000 items")
        assertLimit("{{ range(-9223372036854775807 - 1, 9223372036854775807)|length }}", "range()", "limit")
        assertLimit("{{ range(9223372036854775807, -9223372036854775807 - 1, -1)|length }}", "range()", "limit")
    }

    func testRangeAtTheExtremesStillCounts() throws {
        XCTAssertEqual(try render("{{ range(9223372036854775805, 9223372036854775807)|list }}"),
                       "[9223372036854775805, 9223372036854775806]")
        XCTAssertEqual(try render("{{ range(0, 9223372036854775807, 4611686018427387904)|list }}"),
                       "[0, 4611686018427387904]")
        XCTAssertEqual(try render("{{ range(5, 0, -2)|list }}"), "[5, 3, 1]")
    }

    func testOrdinaryArithmeticFollowsPython() throws {
        XCTAssertEqual(try render("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 // -2 }} {{ -7 // -2 }}"), "3 -4 -4 3")
        XCTAssertEqual(try render("{{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ -7 % -3 }}"), "1 2 -2 -1")
        XCTAssertEqual(try render("{{ 2 ** -1 }} {{ 2 ** 10 }} {{ (-2) ** 63 }} {{ 7 / 2 }}"), "0.5 1024 -9223372036854775808 3.5")
        XCTAssertEqual(try render("{{ 9223372036854775806 + 1 }} {{ -(-9223372036854775807) }}"),
                       "9223372036854775807 9223372036854775807")
        XCTAssertEqual(try render("{{ (-9223372036854775807 - 1) // 2 }} {{ (-9223372036854775807 - 1) % 7 }}"),
                       "-4611686018427387904 6")
    }

    func testDivisionByZeroIsAnError() {
        assertLimit("{{ 1 // 0 }}", "division by zero")
        assertLimit("{{ 1 % 0 }}", "division by zero")
        assertLimit("{{ 0 ** -1 }}", "division by zero")
    }

    // MARK: - Sizes

    func testHugeRepetitionFailsBeforeAllocating() {
        assertLimit("{{ 'a' * 999999999999 }}", "output-size limit of 16 MiB")
        assertLimit("{{ 'ab' * 9223372036854775807 }}", "output-size limit")
    }

    func testRepetitionJustOverTheLimitFailsQuickly() {
        assertLimit("{{ 'a' * 3000000000 }}", "output-size limit")
        assertLimit("{{ 'a' * 16777217 }}", "output-size limit")
    }

    func testLoopRenderingAGigabyteStops() {
        assertLimit("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "output-size limit")
    }

    func testSetBlockCaptureIsBounded() {
        assertLimit("{% set s %}{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}{% endset %}", "output-size limit")
    }

    func testConcatenationDoublingIsBounded() {
        assertLimit("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "output-size limit")
        assertLimit("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", "output-size limit")
    }

    func testJoinAndReplaceAreBounded() {
        let big = "{% set b = 'x' * 8000000 %}"
        assertLimit(big + "{{ [b, b, b]|join }}", "output-size limit")
        assertLimit(big + "{{ b|replace('x', 'yyy') }}", "output-size limit")
        assertLimit(big + "{{ b.replace('x', 'yyy') }}", "output-size limit")
        assertLimit(big + "{{ [b, b, b] }}", "output-size limit")
    }

    func testRebuildingStringsUnderTheSizeLimitStops() {
        assertLimit("{% set b = 'x' * 10000000 %}{% for i in range(1000) %}{% set c = b ~ i %}{% endfor %}", "text limit")
    }

    func testLoopPrintingNothingStops() {
        assertLimit("{% for i in range(10**9) %}{% endfor %}", "limit of 100000 items")
        assertLimit("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "step limit")
    }

    func testToJSONIndentIsBounded() {
        assertLimit("{{ messages|tojson(indent=9223372036854775807) }}", "tojson indent", "limit of 64")
        assertLimit("{{ messages|tojson(indent=-1) }}", "tojson indent")
        assertLimit("{{ messages|tojson(65) }}", "tojson indent")
    }

    func testIndentWidthIsBounded() throws {
        assertLimit("{{ 'a\nb'|indent(9223372036854775807) }}", "indent width", "limit of 64")
        assertLimit("{{ 'a\nb'|indent(-1) }}", "indent width")
        XCTAssertEqual(try render("{{ 'a\nb'|indent(2) }}|{{ messages|tojson(indent=2) }}"),
                       "a\n  b|[\n  {\n    \"role\": \"user\",\n    \"content\": \"Hi\"\n  }\n]")
    }

    func testSlicingWithHugeStepsDoesNotOverflow() throws {
        XCTAssertEqual(try render("{{ 'abc'[1::9223372036854775807] }}|{{ [1, 2, 3][2::-9223372036854775807 - 1] }}"), "b|[3]")
        XCTAssertEqual(try render("{{ 'abc'[-9223372036854775807 - 1] }}|{{ 'abc'[9223372036854775807] }}|{{ 'abc'[-1] }}"), "||c")
    }

    // MARK: - Nesting

    func testDeepParenthesesAreAnError() {
        let n = 20_000
        assertLimit("{{ " + String(repeating: "(", count: n) + "1" + String(repeating: ")", count: n) + " }}",
                    "nesting-depth limit of 128", "line 1")
    }

    func testDeepNotAndUnaryMinusAreAnError() {
        assertLimit("{{ " + String(repeating: "not ", count: 20_000) + "1 }}", "nesting-depth limit")
        assertLimit("{{ " + String(repeating: "- ", count: 20_000) + "1 }}", "nesting-depth limit")
    }

    func testDeepBracketsAndBracesAreAnError() {
        assertLimit("{{ " + String(repeating: "[", count: 20_000) + String(repeating: "]", count: 20_000) + " }}", "nesting-depth limit")
        assertLimit("{{ " + String(repeating: "{'a': ", count: 20_000) + "1" + String(repeating: "}", count: 20_000) + " }}", "nesting-depth limit")
    }

    func testDeepCallsAndFilterArgumentsAreAnError() {
        assertLimit("{{ " + String(repeating: "dict(a=", count: 20_000) + "1" + String(repeating: ")", count: 20_000) + " }}", "nesting-depth limit")
        assertLimit("{{ 1" + String(repeating: "|default(1", count: 20_000) + String(repeating: ")", count: 20_000) + " }}", "nesting-depth limit")
    }

    func testLongChainsAreAnError() {
        // these build deep trees without deep parser recursion
        assertLimit("{{ 1" + String(repeating: " + 1", count: 20_000) + " }}", "nesting-depth limit")
        assertLimit("{{ 'a'" + String(repeating: "|trim", count: 20_000) + " }}", "nesting-depth limit")
        assertLimit("{{ messages" + String(repeating: "[0]", count: 20_000) + " }}", "nesting-depth limit")
    }

    func testModestExpressionsStillParse() throws {
        XCTAssertEqual(try render("{{ " + String(repeating: "(", count: 50) + "1" + String(repeating: ")", count: 50) + " }}"), "1")
        XCTAssertEqual(try render("{{ 0" + String(repeating: " + 1", count: 60) + " }}"), "60")
    }

    func testDeepBlocksAreAnError() {
        let n = 20_000
        assertLimit(String(repeating: "{% if true %}", count: n) + String(repeating: "{% endif %}", count: n), "blocks nested", "limit of 64")
        assertLimit(String(repeating: "{% for x in [1] %}", count: n) + String(repeating: "{% endfor %}", count: n), "blocks nested")
    }

    func testSelfContainingNamespaceIsAnError() {
        assertLimit("{% set ns = namespace(a=1) %}{% set ns.a = ns %}{{ ns|tojson }}", "namespace", "nesting-depth limit")
        assertLimit("{% set ns = namespace(a=1) %}{% set ns.a = [ns] %}{{ ns.a == ns.a }}", "namespace", "nesting-depth limit")
    }

    func testDeeplyNestedValuesAreAnError() {
        // a list that wraps itself once per loop iteration, held in a namespace
        assertLimit("{% set ns = namespace(a=[]) %}{% for i in range(100000) %}{% set ns.a = [ns.a] %}{% endfor %}",
                    "nesting-depth limit of 64")
        // a literal deeper than valueDepth, printed, compared and serialized
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        assertLimit("{{ \(deep)|tojson }}", "nesting-depth limit")
        assertLimit("{{ \(deep) }}", "nesting-depth limit")
        assertLimit("{{ \(deep) == \(deep) }}", "nesting-depth limit")
    }

    func testSharedListsDoNotExplode() {
        // 2**60 paths through 60 shared lists
        assertLimit("{% set ns = namespace(a=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ ns.a|tojson }}",
                    "limit")
    }
}

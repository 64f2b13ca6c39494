/// An expression of the template language.
indirect enum JinjaExpr {
    case literal(JinjaValue)
    case name(String)
    case list([JinjaExpr])
    case dict([(JinjaExpr, JinjaExpr)])
    case attribute(JinjaExpr, String)
    case index(JinjaExpr, JinjaExpr)
    case slice(JinjaExpr, JinjaExpr?, JinjaExpr?, JinjaExpr?)
    case call(JinjaExpr, [JinjaExpr], [(String, JinjaExpr)])
    case filter(JinjaExpr, JinjaFilter, [JinjaExpr], [(String, JinjaExpr)])
    case test(JinjaExpr, JinjaTest, [JinjaExpr], negated: Bool)
    case unary(UnaryOperator, JinjaExpr)
    case binary(BinaryOperator, JinjaExpr, JinjaExpr)
    case conditional(then: JinjaExpr, condition: JinjaExpr, otherwise: JinjaExpr?)
    /// A filter or test this engine does not have. Parsing goes on (a model's template may use one in a
    /// branch that chat rendering never takes, e.g. tool calls); evaluating it throws the error.
    case unsupported(JinjaError)
}

/// A statement of the template language; `line` is where its tag is, for errors while it runs.
indirect enum JinjaNode {
    case text(String)
    case output(JinjaExpr, line: Int)
    case ifChain([(condition: JinjaExpr, line: Int, body: [JinjaNode])], otherwise: [JinjaNode])
    case forLoop(targets: [String], iterable: JinjaExpr, condition: JinjaExpr?, body: [JinjaNode], otherwise: [JinjaNode], line: Int)
    case set(targets: [String], attribute: String?, value: JinjaExpr, line: Int)
    case setBlock(name: String, body: [JinjaNode], line: Int)
}

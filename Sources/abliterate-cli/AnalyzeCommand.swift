import AbliterationCore
import AbliterationPipeline
import ArgumentParser
import Foundation

/// `abliterate analyze`: the diagnostics of a measurement.
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Per-layer refusal-direction diagnostics of a measurements file, with suggested layers.",
        discussion: """
            Example:
              abliterate analyze smollm2.measurements.safetensors --plot directions.svg
              abliterate analyze full.safetensors --compare nf4.safetensors
            """)

    @Argument(help: "A measurements file written by `abliterate measure`.") var measurements: String
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "Write an SVG chart of the diagnostics per layer.") var plot: String?
    @Option(help: "Shade the layers of this plan in the chart, e.g. 20:8-24.") var plan: String?
    @Option(help: "A second measurements file: print the cosine between the two directions per layer.") var compare: String?
    @Option(help: "Direction method for --compare.") var method = RefusalDirection.Method.projected

    func run() throws {
        try reportingErrors("analyze") {
            if let plot {
                try prepareOutput(plot, label: "--plot", kind: .file, inputs: [("<measurements>", measurements), ("--compare", compare)])
            }
            let m = try Measurements(contentsOf: measurements)
            let analysis = MeasurementAnalysis(m)
            let layerPlan = try plan.map { try LayerPlan(parsing: $0) }
            if let compare {
                let rows = try MeasurementComparison.cosines(m, try Measurements(contentsOf: compare), method: method)
                print(json ? try jsonString(rows) : MeasurementComparison.table(rows, names: (measurements, compare)))
            } else if json {
                print(try jsonString(analysis))
            } else {
                print(try analysis.report())
            }
            if let plot {
                try writeText(analysis.chart(plan: layerPlan), to: plot)
                printError("wrote \(plot)")
            }
        }
    }
}

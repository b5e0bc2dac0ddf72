import ArgumentParser
import CLTrainTraining
import Foundation

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the models with their parameter counts and smallest input.")

    @Argument(help: "Models to list (default: the whole catalogue), any name `cltrain train --model` takes.")
    var names: [String] = []

    @Option(name: .long, help: "Input channels the counts are for.")
    var channels = 1

    @Option(name: .long, help: "Classes the counts are for.")
    var classes = 10

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        guard channels > 0 else { throw ValidationError("--channels must be at least 1") }
        guard classes > 1 else { throw ValidationError("--classes must be at least 2") }
    }

    func run() throws {
        try reportingErrors {
            let rows = try ModelListing.rows(names, channels: channels, classes: classes)
            if json {
                let objects = rows.map {
                    ["name": $0.name, "parameters": String($0.parameters), "minimumInputSize": String($0.minimumInputSize), "summary": $0.summary]
                }
                let data = try JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print("models for \(channels) input channel\(channels == 1 ? "" : "s") and \(classes) classes:")
            for row in rows {
                let minimum = "\(row.minimumInputSize)x\(row.minimumInputSize)"
                print("\(pad(row.name, 22)) \(lpad(row.parameters.formatted(), 12)) params  \(lpad(minimum, 7)) min   \(row.summary)")
            }
            print("min: the smallest images a model takes (smaller ones need --resize)")
            if names.isEmpty { print("any densenet-bc-L-kK (L = 6n+4) or densenet-L-kK (L = 3n+4) also works") }
        }
    }
}

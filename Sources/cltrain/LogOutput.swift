import ArgumentParser
import Foundation
import Logging

/// How the run log reads on stderr: `plain` lines a person reads (`data: ...`, `warning: ...`),
/// or `json`, one object per line with its time, level and source, for files and log collectors.
enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case plain, json
}

/// The CLI's log handler (the libraries only take a `Logger`): writes each message as one line on
/// stderr in the chosen format.
struct LogOutput: LogHandler {
    let format: LogFormat
    /// The rank whose lines these are, in a job of several processes (nil: one process).
    var rank: Int? = nil
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        FileHandle.standardError.write(Data((render(level: level, message: "\(message)", source: source) + "\n").utf8))
    }

    func render(level: Logger.Level, message: String, source: String, at time: Date = Date()) -> String {
        switch format {
        case .plain:
            let message = rank.map { "rank \($0): \(message)" } ?? message
            return level >= .warning ? "\(level == .warning ? "warning" : "error"): \(message)" : message
        case .json:
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            var object = ["time": formatter.string(from: time), "level": level.rawValue, "source": source, "message": message]
            if let rank { object["rank"] = "\(rank)" }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
    }
}

/// The logger of a command: info and above, or warnings and above when `quiet`; each line names
/// `rank` when one is given (a job of several processes).
func makeLogger(format: LogFormat, quiet: Bool, rank: Int? = nil) -> Logger {
    Logger(label: "cltrain") { _ in LogOutput(format: format, rank: rank, logLevel: quiet ? .warning : .info) }
}

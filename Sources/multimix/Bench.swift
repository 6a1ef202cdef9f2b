import ArgumentParser

extension Multimix {
    /// `multimix bench`: measurements run side by side with a reference in the same process.
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Benchmarks, each timed against its reference in the same run.",
            subcommands: [BenchAllreduce.self, BenchConv.self, BenchTrain.self, BenchData.self]
        )
    }
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

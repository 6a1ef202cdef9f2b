import ArgumentParser
import Tensors

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

/// The bounds of the benchmarks' options: far beyond a real measurement, far below what exhausts the
/// machine (a batch or an image that cannot be allocated, more threads than libgomp survives).
enum BenchLimits {
    /// Elements of one input batch (batch × channels × height × width): 2³⁰ floats, 4 GiB.
    static let batchElements = 1 << 30
    /// Each dimension of an input shape, and a batch.
    static let dimension = 65_536

    /// Refuses `value` outside `range`, naming `flag`.
    static func require(_ value: Int, in range: ClosedRange<Int>, _ flag: String, _ note: String = "") throws {
        guard range.contains(value) else {
            throw ValidationError("\(flag) must be in [\(range.lowerBound), \(range.upperBound)]\(note); got \(value).")
        }
    }

    /// Refuses `--threads` past `ComputeThreads.maximum`, and a batch of `shape` images too large to allocate.
    static func require(threads: Int, batch: Int, shape: (Int, Int, Int)) throws {
        try require(threads, in: 1...ComputeThreads.maximum, "--threads")
        let (c, h, w) = shape
        guard [batch, c, h, w].allSatisfy({ $0 <= dimension }), batch * c * h * w <= batchElements else {
            throw ValidationError("--batch × --input is \(batch)x\(c)x\(h)x\(w), more than \(batchElements) values (4 GiB); use a smaller batch or input.")
        }
    }
}

import ArgumentParser
import CMPI
import Foundation
import SwiftMPI

/// `multimix bench allreduce`: the wrapper's in-place sum allreduce against a direct C
/// `MPI_Allreduce` on the same buffer, interleaved in the same run, for message sizes from
/// `--min-bytes` to `--max-bytes` in steps of ×4.
struct BenchAllreduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "Time SwiftMPI's allreduce against a direct C MPI_Allreduce (run under mpirun).",
        discussion: """
            Each repetition times both calls on the same Float buffer, alternating which goes first. \
            A repetition's time is the slowest rank's; the figure per size is the median over \
            repetitions. busbw = bytes / time × 2(N−1)/N, from the wrapper's time.
            Example: mpirun -np 2 multimix bench allreduce --json
            """
    )

    @Option(help: "Smallest message in bytes.")
    var minBytes = 1 << 10

    @Option(help: "Largest message in bytes (sizes grow ×4 from --min-bytes).")
    var maxBytes = 64 << 20

    @Option(help: "Timed repetitions per size and call (default: from 200 for small messages down to 20 for 64 MiB).")
    var repetitions: Int?

    @Option(help: "Untimed repetitions per size before timing.")
    var warmup = 3

    @Flag(help: "Print one JSON object per size (rank 0 only).")
    var json = false

    func validate() throws {
        try BenchLimits.require(minBytes, in: 4...(1 << 30), "--min-bytes", " (one Float to 1 GiB)")
        try BenchLimits.require(maxBytes, in: 4...(1 << 30), "--max-bytes", " (one Float to 1 GiB)")
        guard maxBytes >= minBytes else {
            throw ValidationError("--max-bytes (\(maxBytes)) must be at least --min-bytes (\(minBytes)).")
        }
        if let repetitions, repetitions < 1 {
            throw ValidationError("--repetitions must be at least 1; got \(repetitions).")
        }
        guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more; got \(warmup).") }
    }

    func run() throws {
        try MPI.initialize(threadLevel: .funneled)
        let world = try Communicator.world
        if world.rank == 0 && !json {
            print("allreduce, \(world.size) ranks, float32 sum in place; medians of the slowest rank per repetition")
            print("       bytes   wrapper_ms         c_ms  wrapper/c   busbw_GB/s")
        }
        var bytes = minBytes
        while bytes <= maxBytes {
            let result = try measure(bytes: bytes, world: world)
            if world.rank == 0 { report(result, ranks: world.size) }
            bytes *= 4
        }
        try MPI.finalize()
    }

    struct Result {
        var bytes: Int
        var wrapperSeconds: Double
        var cSeconds: Double
        var repetitions: Int
    }

    private func measure(bytes: Int, world: Communicator) throws -> Result {
        let count = bytes / MemoryLayout<Float>.stride
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 0)  // zeros stay zeros under repeated sums: no overflow, no denormals
        let reps = repetitions ?? max(20, min(200, (256 << 20) / bytes))

        let wrapperCall = { try world.allreduce(buffer, op: .sum) }
        let cCall = {
            let code = MPI_Allreduce(cmpi_in_place(), buffer.baseAddress, Int32(count), cmpi_float(),
                                     cmpi_op_sum(), world.handle)
            if code != 0 { throw ValidationError("MPI_Allreduce failed with code \(code)") }
        }
        for _ in 0..<warmup {
            try wrapperCall()
            try cCall()
        }
        var wrapperTimes = [Double](repeating: 0, count: reps)
        var cTimes = [Double](repeating: 0, count: reps)
        for rep in 0..<reps {
            // Alternate the order so that neither call always follows the other's cache effects.
            if rep % 2 == 0 {
                wrapperTimes[rep] = try timed(wrapperCall, world)
                cTimes[rep] = try timed(cCall, world)
            } else {
                cTimes[rep] = try timed(cCall, world)
                wrapperTimes[rep] = try timed(wrapperCall, world)
            }
        }
        // A repetition lasts as long as its slowest rank.
        try world.allreduce(&wrapperTimes, op: .max)
        try world.allreduce(&cTimes, op: .max)
        return Result(bytes: bytes, wrapperSeconds: median(wrapperTimes), cSeconds: median(cTimes), repetitions: reps)
    }

    private func timed(_ body: () throws -> Void, _ world: Communicator) throws -> Double {
        try world.barrier()
        let start = MPI.wallTime
        try body()
        return MPI.wallTime - start
    }

    private func report(_ result: Result, ranks: Int) {
        let n = Double(ranks)
        let busbw = result.wrapperSeconds > 0
            ? Double(result.bytes) / result.wrapperSeconds * 2 * (n - 1) / n / 1e9 : 0
        let wrapperMs = result.wrapperSeconds * 1e3, cMs = result.cSeconds * 1e3
        if json {
            print(#"{"bytes":\#(result.bytes),"wrapper_ms":\#(fmt(wrapperMs, 5)),"c_ms":\#(fmt(cMs, 5)),"busbw_gbps":\#(fmt(busbw, 4)),"ratio":\#(fmt(wrapperMs / cMs, 4)),"ranks":\#(ranks),"repetitions":\#(result.repetitions)}"#)
        } else {
            print(String(format: "%12d %12.4f %12.4f %10.3f %12.3f", result.bytes, wrapperMs, cMs, wrapperMs / cMs, busbw))
        }
    }

    private func fmt(_ x: Double, _ digits: Int) -> String {
        x.isFinite ? String(format: "%.\(digits)g", x) : "null"
    }
}

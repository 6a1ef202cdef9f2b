import Foundation
import XCTest

/// The Python with PyTorch, safetensors and numpy (and tensorboard, for the TensorBoard test) that the
/// interoperability tests run: the virtual environment `launch/test.sh` creates (`.build/python-venv`),
/// named by `$MULTIMIX_TEST_PYTHON`.
///
/// Where it is missing or lacks a package, a test that needs it fails in CI (`CI=true`: the check
/// must run there) and is skipped elsewhere, each time with what to run.
public enum PythonReference {
    /// The modules every interoperability test imports.
    public static let modules = ["torch", "safetensors", "numpy"]

    /// `$MULTIMIX_TEST_PYTHON`, else the virtual environment's interpreter under the repository.
    public static var interpreter: String {
        if let path = ProcessInfo.processInfo.environment["MULTIMIX_TEST_PYTHON"], !path.isEmpty { return path }
        return Repository.root.appendingPathComponent(".build/python-venv/bin/python").path
    }

    /// The project's Python folder (`python/`: the PyTorch models and the checkpoint evaluator).
    public static let folder = Repository.root.appendingPathComponent("python")

    /// Whether this is a CI run (`CI=true`, as CI services and `.ci/run` set it).
    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"]?.lowercased() == "true" }

    /// The module the TensorBoard tests import besides `modules` (its event file reader).
    public static let tensorBoardModule = "tensorboard"

    /// Why the interpreter cannot import `modules`, or nil when it can.
    static func problem(importing modules: [String]) -> String? {
        let python = interpreter
        guard FileManager.default.isExecutableFile(atPath: python) else { return "no Python interpreter at \(python)" }
        guard let result = try? MPIRun.launch([python, "-c", "import " + modules.joined(separator: ", ")], timeout: 120) else {
            return "\(python) does not start"
        }
        guard result.status == 0 else {
            return "\(python) cannot import \(modules.joined(separator: ", ")): \(result.output.split(separator: "\n").last ?? "")"
        }
        return nil
    }

    /// Why the interpreter cannot run the tests, or nil when it can (checked once per process).
    static let problem: String? = problem(importing: modules)
    /// The same for the TensorBoard tests.
    static let tensorBoardProblem: String? = problem ?? problem(importing: [tensorBoardModule])

    /// The interpreter, once it is known to import `modules` (and `tensorboard` with `tensorBoard`);
    /// otherwise fails the calling test in CI (throws a plain error) and skips it elsewhere (throws
    /// XCTSkip), saying how to set it up.
    public static func require(tensorBoard: Bool = false) throws -> String {
        let wanted = modules + (tensorBoard ? [tensorBoardModule] : [])
        return try interpreter(unless: tensorBoard ? tensorBoardProblem : problem,
                               fix: "run bash launch/test.sh (it creates .build/python-venv with PyTorch's CPU build), or point MULTIMIX_TEST_PYTHON at a Python with \(wanted.joined(separator: ", "))")
    }

    /// The interpreter when `problem` is nil; else a failure in CI (a plain error) and a skip elsewhere
    /// (XCTSkip), each saying the problem and `fix`.
    private static func interpreter(unless problem: String?, fix: String) throws -> String {
        guard let problem else { return interpreter }
        if isCI { throw PythonReferenceMissing(description: "CI=true and \(problem); \(fix)") }
        throw XCTSkip("\(problem); \(fix)")
    }

    /// The modules the image-folder tests import (numpy and Pillow: `make_image_folder.py`, and
    /// Pillow as the decoding reference).
    public static let imageModules = ["numpy", "PIL"]
    static let imageProblem: String? = problem(importing: imageModules)

    /// The interpreter, once it imports numpy and Pillow; fails in CI, skips elsewhere.
    public static func requireImages() throws -> String {
        try interpreter(unless: imageProblem,
                        fix: "run bash launch/test.sh (its .build/python-venv has numpy and Pillow), or point MULTIMIX_TEST_PYTHON at a Python with them")
    }

    /// Runs `arguments` with the interpreter (numpy and Pillow required, PyTorch not), at most
    /// `timeout` seconds.
    public static func runImages(_ arguments: [String], timeout: Double = 300) throws -> MPIRun.Result {
        try launch(try requireImages(), arguments, timeout: timeout)
    }

    /// Runs `arguments` with the interpreter (`python/` importable), at most `timeout` seconds;
    /// returns its exit status and output (stdout and stderr together). `tensorBoard`: the test needs
    /// the `tensorboard` package too.
    public static func run(_ arguments: [String], timeout: Double = 300, tensorBoard: Bool = false) throws -> MPIRun.Result {
        try launch(try require(tensorBoard: tensorBoard), arguments, timeout: timeout)
    }

    /// `python arguments…` with `python/` importable and one OpenMP thread, at most `timeout` seconds.
    private static func launch(_ python: String, _ arguments: [String], timeout: Double) throws -> MPIRun.Result {
        let result = try MPIRun.launch([python] + arguments, timeout: timeout,
                                       environment: ["PYTHONPATH": folder.path, "OMP_NUM_THREADS": "1"])
        XCTAssertFalse(result.timedOut, "python \(arguments.first ?? "") did not finish within \(Int(timeout)) s")
        return result
    }
}

/// The interoperability check cannot run in CI: a failure, not a skip.
public struct PythonReferenceMissing: Error, CustomStringConvertible {
    public let description: String
}

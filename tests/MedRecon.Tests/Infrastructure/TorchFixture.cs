using MedRecon.Core;

namespace MedRecon.Tests.Infrastructure;

/// <summary>Applies process-wide TorchSharp settings once per test run (module initializer runs before any test).</summary>
static class TorchModuleInit
{
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Init() => TorchSetup.Initialize(threads: 1);
}

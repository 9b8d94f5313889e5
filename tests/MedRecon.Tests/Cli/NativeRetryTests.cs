using System.Runtime.InteropServices;
using MedRecon.Cli;

namespace MedRecon.Tests.Cli;

/// <summary><see cref="CliSupport.RetryNativeOnce"/>: one retry for a native (libtorch) error, none for anything else.</summary>
public class NativeRetryTests
{
    [Fact]
    public void ANativeErrorIsRetriedOnceAndReported()
    {
        int calls = 0;
        var reported = new List<string>();
        int result = CliSupport.RetryNativeOnce(() => ++calls == 1 ? throw new ExternalException("Unknown scalar type\nat add") : 42, "test", reported.Add);
        Assert.Equal(42, result);
        Assert.Equal(2, calls);
        Assert.Equal(new[] { "Unknown scalar type" }, reported);
    }

    [Fact]
    public void ANativeErrorThatRecursPropagates()
    {
        int calls = 0;
        var e = Assert.Throws<ExternalException>(() => CliSupport.RetryNativeOnce<int>(() => throw new ExternalException($"fails {++calls}"), "test", _ => { }));
        Assert.Equal("fails 2", e.Message);
        Assert.Equal(2, calls);
    }

    [Fact]
    public void OtherErrorsAreNotRetried()
    {
        int calls = 0;
        Assert.Throws<ArgumentException>(() => CliSupport.RetryNativeOnce<int>(() => { calls++; throw new ArgumentException("bad input"); }, "test", _ => Assert.Fail("no retry expected")));
        Assert.Equal(1, calls);
    }
}

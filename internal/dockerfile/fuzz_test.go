package dockerfile_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/manyarch/manyarch/internal/dockerfile"
	"github.com/manyarch/manyarch/internal/plan"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzParse parses arbitrary text and plans what parses, for two targets:
// neither may panic, and every error about the text must be a located
// *dockerfile.Error.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"FROM busybox\nRUN echo hi\n",
		"ARG A=1\nFROM --platform=$BUILDPLATFORM busybox:${A} AS b\nARG TARGETARCH\nRUN --mount=type=cache,target=/c echo $TARGETARCH\nFROM b\nCOPY --from=b /a /b\n",
		"# escape=`\nFROM x\nRUN a `\n b\n",
		"FROM x\nRUN <<EOF\nhi\nEOF\nCOPY <<A <<B /d/\na\nA\nb\nB\n",
		"FROM x AS a\nCOPY --from=b / /\nFROM x AS b\nCOPY --from=a / /\n",
		"FROM x\nONBUILD RUN x\nHEALTHCHECK --interval=1s CMD true\nEXPOSE 80/tcp 1-3/udp\nSTOPSIGNAL 9\nSHELL [\"sh\",\"-c\"]\n",
		"FROM x\nADD --checksum=sha256:00 https://e.x/a /a\nCOPY --chmod=u+x --chown=1:1 --link --parents --exclude=*.x a/./b /c\n",
		"FROM scratch\nWORKDIR rel\nUSER 1\nVOLUME [\"/v\"]\nENV A=${B:-c}\nLABEL a=b\nENTRYPOINT [\"/x\"]\nCMD x\n",
		"FROM x\nRUN --mount=type=secret,id=s --mount=type=ssh --network=none --security=insecure true\n",
	} {
		f.Add(seed)
	}
	// Every golden Dockerfile is a seed too.
	files, _ := filepath.Glob("../../testdata/dockerfile/*.Dockerfile")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		ctx := context.Background()
		df, err := dockerfile.Parse(ctx, "Dockerfile", strings.NewReader(src))
		if err != nil {
			var de *dockerfile.Error
			if !errors.As(err, &de) {
				t.Fatalf("Parse(%q) error %v is %T, want *dockerfile.Error", src, err, err)
			}
			return
		}
		_, err = plan.New(ctx, df, plan.Options{
			Platforms:     []specs.Platform{{OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "arm", Variant: "v7"}},
			BuildPlatform: specs.Platform{OS: "linux", Architecture: "amd64"},
			BuildArgs:     map[string]string{"A": "1"},
		})
		if err != nil {
			var de *dockerfile.Error
			if !errors.As(err, &de) {
				t.Fatalf("NewPlan(%q) error %v is %T, want *dockerfile.Error", src, err, err)
			}
		}
	})
}

package mirror_test

import (
	"testing"

	"github.com/airgap-ocp/oc-plugins/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

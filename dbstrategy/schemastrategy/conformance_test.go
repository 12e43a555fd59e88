package schemastrategy_test

import (
	"testing"

	"github.com/tenantkit/tenantkit/dbstrategy"
	"github.com/tenantkit/tenantkit/dbstrategy/dbstrategytest"
	"github.com/tenantkit/tenantkit/dbstrategy/schemastrategy"
)

func TestConformance(t *testing.T) {
	dbstrategytest.Run(t, func(t *testing.T) dbstrategy.Strategy {
		return newStrategy(t, schemastrategy.Config{})
	})
}

func TestConformanceRoles(t *testing.T) {
	dbstrategytest.Run(t, func(t *testing.T) dbstrategy.Strategy {
		return newStrategy(t, schemastrategy.Config{Roles: true})
	})
}

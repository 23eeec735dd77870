-- Change tracking for the nodes' in-memory views (src/db/pg/backend.ts).
-- change_counters: one row per watched table, bumped by every statement that
-- writes it; a node's fresh() reads this table (one small query) and reloads
-- only the views whose counter moved. The same triggers NOTIFY
-- chainboot_changes with the table's name, so idle nodes follow too.
-- Host rows NOTIFY chainboot_hosts with their MAC when they appear, go or
-- change dhcp_mode (proxyDHCP's in-memory MAC -> dhcpMode map).
CREATE TABLE "change_counters" (
	"name" text PRIMARY KEY NOT NULL,
	"n" bigint NOT NULL
);
--> statement-breakpoint
INSERT INTO "change_counters" ("name", "n") VALUES ('templates', 0), ('sites', 0);
--> statement-breakpoint
CREATE FUNCTION "chainboot_count_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE "change_counters" SET "n" = "n" + 1 WHERE "name" = TG_ARGV[0];
	PERFORM pg_notify('chainboot_changes', TG_ARGV[0]);
	RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "templates_count_change" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "templates" FOR EACH STATEMENT EXECUTE FUNCTION "chainboot_count_change"('templates');
--> statement-breakpoint
CREATE TRIGGER "sites_count_change" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "sites" FOR EACH STATEMENT EXECUTE FUNCTION "chainboot_count_change"('sites');
--> statement-breakpoint
CREATE FUNCTION "chainboot_notify_host"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD."mac" IS DISTINCT FROM NEW."mac") THEN
		PERFORM pg_notify('chainboot_hosts', OLD."mac");
	END IF;
	IF TG_OP <> 'DELETE' THEN
		PERFORM pg_notify('chainboot_hosts', NEW."mac");
	END IF;
	RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "hosts_notify_dhcp" AFTER INSERT OR DELETE ON "hosts" FOR EACH ROW EXECUTE FUNCTION "chainboot_notify_host"();
--> statement-breakpoint
CREATE TRIGGER "hosts_notify_dhcp_change" AFTER UPDATE OF "dhcp_mode", "mac" ON "hosts" FOR EACH ROW
	WHEN (OLD."dhcp_mode" IS DISTINCT FROM NEW."dhcp_mode" OR OLD."mac" IS DISTINCT FROM NEW."mac")
	EXECUTE FUNCTION "chainboot_notify_host"();

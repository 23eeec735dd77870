CREATE TABLE `sites` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`subnets` text DEFAULT '[]' NOT NULL,
	`relays` text DEFAULT '[]' NOT NULL,
	`asset_base_url` text DEFAULT '' NOT NULL,
	`boot_base_url` text DEFAULT '' NOT NULL,
	`loaders` text DEFAULT '{}' NOT NULL,
	`default_profile` text DEFAULT '' NOT NULL,
	`menu_display` text DEFAULT '' NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sites_name_unique` ON `sites` (`name`);